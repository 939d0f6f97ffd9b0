# class: cli
# args: sensitivity scenarios/sensitivity/tnbc-untreated.toml --method saltelli --out {out}
# exit: 2
# expect: nkscape: error: --method 'saltelli' is not one of morris, sobol, prcc
# must: --method names the methods allowed
# why: a method name that is not one of nkscape's
