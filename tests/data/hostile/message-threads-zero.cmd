# class: message
# args: assay tests/data/assay/tiny.toml --out {out} --threads 0
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '0'
# must: --threads must be a positive integer (names the allowed range in integers), exit 2
# why: --threads 0 says "not in range 0.000000 to 1.79e308" today: say what is allowed
