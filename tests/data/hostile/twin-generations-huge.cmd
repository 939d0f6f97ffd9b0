# class: unbounded-work
# args: twin scenarios/twin/example-tnbc-patient.toml --regimens scenarios/twin/tnbc-regimens.toml --out {out} --particles 100000 --generations 200
# exit: 2
# expect: scenarios/twin/example-tnbc-patient.toml:25:1: error: [[measurement]]: key 'day': the run would need 6.98e+09 d of simulated patient time (at most 81,000,000 fits x 84 d + 400,000 predictions x 448 d); the limit is 100,000,000 d (docs/limits.md); reduce it, or pass --allow-large if you mean it
# expect: scenarios/twin/example-tnbc-patient.toml: 1 error
# must: a run past the work limit is refused before it starts, naming the estimate and the limit
# why: a typo in --particles must not start an hours-long run
