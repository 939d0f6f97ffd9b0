# class: number
# args: stats km --data tests/data/stats/bad-inf-time.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-inf-time.csv:3: column 'time': 'inf' is not finite
# must: file:line, column 'time': not a finite number
# why: inf as a survival time
