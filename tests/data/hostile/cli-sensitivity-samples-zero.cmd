# class: cli
# args: sensitivity scenarios/sensitivity/tnbc-untreated.toml --samples 0 --out {out}
# exit: 2
# expect: nkscape: error: --samples must be in [2, 10000000], got 0
# must: --samples must be in [2, 10000000]
# why: no samples asked for
