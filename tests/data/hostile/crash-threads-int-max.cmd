# class: crash
# args: assay tests/data/assay/tiny.toml --out {out} --threads 2147483647
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '2147483647'
# must: --threads above the thread limit, exit 2
# why: INT_MAX threads: refuse
