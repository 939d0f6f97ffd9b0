# class: structure
# args: stats km --data tests/data/stats/bad-empty.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-empty.csv: the file is empty (a header row is required)
# must: no header row
# why: an empty CSV
