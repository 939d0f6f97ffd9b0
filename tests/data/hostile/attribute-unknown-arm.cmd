# class: cli
# args: attribute tests/data/attribution/tnbc-three-arms.toml --arm placebo --out {out}
# exit: 2
# expect: nkscape: error: --arm 'placebo': trial 'attribution test: TNBC untreated vs pembrolizumab vs monalizumab' (tests/data/attribution/tnbc-three-arms.toml) has no such arm; its arms are 'untreated', 'pembrolizumab', 'monalizumab'
# must: an arm the trial does not have is refused, naming the arms it has
# why: a typo in --arm
