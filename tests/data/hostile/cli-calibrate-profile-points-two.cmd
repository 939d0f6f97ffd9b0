# class: cli
# args: calibrate tests/data/calibrate/targets.toml --only S-doubling --free cell_type/TNBC/doubling_time --profile-points 2 --out {out}
# exit: 2
# expect: nkscape: error: --profile-points must be 0 (no profiles) or in [3, 101], got 2
# must: a profile of fewer than 3 points is refused
# why: two points make no profile
