# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out {out} --patients 99999999999
# exit: 2
# expect: nkscape: error: --patients must be in [1, 1000000], got 99999999999
# must: --patients out of range is refused
# why: a typo must not start a year-long run
