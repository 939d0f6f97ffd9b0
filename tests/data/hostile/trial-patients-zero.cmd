# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out {out} --patients 0
# exit: 2
# expect: nkscape: error: --patients must be in [1, 1000000], got 0
# must: --patients out of range is refused
# why: zero patients is no trial
