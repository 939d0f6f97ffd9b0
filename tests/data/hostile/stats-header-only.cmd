# class: structure
# args: stats km --data tests/data/stats/bad-header-only.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-header-only.csv: no data rows after the header
# must: no data rows
# why: a CSV with a header and nothing else
