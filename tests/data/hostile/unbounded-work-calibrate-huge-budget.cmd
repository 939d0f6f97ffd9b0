# class: unbounded-work
# args: calibrate tests/data/calibrate/targets.toml --only S-doubling --free cell_type/TNBC/doubling_time --max-evals 1000000 --out {out}
# exit: 2
# expect: tests/data/calibrate/targets.toml: error: [calibrate]: key '--max-evals': the run would need 3.65e+08 d of simulated time (up to 1,000,009 objective evaluations (1000000 for the fit, 9 for 1 profile of 9 points) x 365.242 d simulated per evaluation); the limit is 100,000,000 d (docs/limits.md); reduce it, or pass --allow-large if you mean it
# expect: tests/data/calibrate/targets.toml: 1 error
# must: a fit whose simulated time passes the limit is refused with the estimate
# why: a million evaluations of a one-year simulation
