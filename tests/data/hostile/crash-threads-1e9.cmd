# class: crash
# args: assay tests/data/assay/tiny.toml --out {out} --threads 1000000000
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '1000000000'
# must: --threads above the thread limit, exit 2
# why: a billion threads: refuse, never try to start them
