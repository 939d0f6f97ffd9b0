# class: unbounded-work
# args: attribute tests/data/attribution/tnbc-three-arms.toml --arm untreated --patients 1000000 --out {out}
# exit: 2
# expect: tests/data/attribution/tnbc-three-arms.toml: error: [trial]: key 'patients': the run would need 2.02e+09 d of simulated patient time (1,000,000 patients x (1 + 11 mechanisms) runs x 168 d of follow-up); the limit is 100,000,000 d (docs/limits.md); reduce it, or pass --allow-large if you mean it
# expect: tests/data/attribution/tnbc-three-arms.toml: 1 error
# must: 1e6 patients x 12 runs x 168 d is refused past the 1e8 d work limit, naming the estimate
# why: a huge --patients
