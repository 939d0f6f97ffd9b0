# class: structure
# args: stats logrank --data tests/data/stats/bad-one-group.csv --time time --event status --group x
# exit: 2
# expect: nkscape: error: tests/data/stats/bad-one-group.csv: the log-rank test needs at least 2 groups; found 1 ('A')
# must: the log-rank test needs at least 2 groups
# why: every row in one group
