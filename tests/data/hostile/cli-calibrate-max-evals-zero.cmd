# class: cli
# args: calibrate tests/data/calibrate/targets.toml --only S-blood-nk --free "cell_type/CD56dim NK/proliferation_rate" --max-evals 0 --out {out}
# exit: 2
# expect: nkscape: error: --max-evals must be in [2, 1000000], got 0
# must: --max-evals out of range is refused before anything runs
# why: no evaluation budget
