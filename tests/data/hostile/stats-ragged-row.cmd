# class: structure
# args: stats km --data tests/data/stats/bad-ragged.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-ragged.csv:3: 2 fields, but the header has 3 columns
# must: file:line: wrong number of fields
# why: a row with a missing field
