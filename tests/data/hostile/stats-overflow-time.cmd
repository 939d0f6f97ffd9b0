# class: number
# args: stats km --data tests/data/stats/bad-overflow-time.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-overflow-time.csv:2: column 'time': '1e400' is not a number
# must: file:line, column 'time': not a finite number
# why: 1e400 overflows a double
