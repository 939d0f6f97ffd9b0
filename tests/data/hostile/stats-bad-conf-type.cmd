# class: cli
# args: stats km --data tests/data/stats/aml.csv --time time --event status --group x --conf-type logit
# exit: 2
# expect: nkscape: error: confidence interval type 'logit' is not one of log, log-log, plain
# must: conf-type not one of log, log-log, plain
# why: an unknown CI transform
