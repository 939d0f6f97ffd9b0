# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out {out} --seed -3
# exit: 2
# expect: nkscape: error: --seed must be >= 0, got -3
# must: a negative seed is refused
# why: seeds are unsigned
