# class: number
# args: stats km --data tests/data/stats/bad-nan-time.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-nan-time.csv:3: column 'time': 'nan' is not finite
# must: file:line, column 'time': not a finite number
# why: NaN as a survival time
