# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out {out} --patients 4 --spider -1
# exit: 2
# expect: nkscape: error: --spider must be in [0, 1000000], got -1
# must: a negative --spider is refused, not wrapped to a huge count
# why: every number a user gives goes through the same checks
