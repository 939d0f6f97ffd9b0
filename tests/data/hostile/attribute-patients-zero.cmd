# class: cli
# args: attribute tests/data/attribution/tnbc-three-arms.toml --arm untreated --patients 0 --out {out}
# exit: 2
# expect: nkscape: error: --patients must be in [1, 1000000], got 0
# must: --patients out of range is refused
# why: zero patients is no attribution
