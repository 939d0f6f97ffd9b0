# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} -t 99999999999999999999
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '99999999999999999999'
# must: --threads must be a positive integer in range, exit 2
# why: --threads beyond 64 bits
