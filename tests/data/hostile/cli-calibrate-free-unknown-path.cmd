# class: cli
# args: calibrate tests/data/calibrate/targets.toml --only S-blood-nk --free qsp/blood_volume --out {out}
# exit: 2
# expect: nkscape: error: evaluator: 'qsp/blood_volume' is not a parameter of the model of scenarios/simulate/tnbc-untreated.toml
# must: a --free path that is not a model parameter is refused
# why: a misspelt parameter path on the command line
