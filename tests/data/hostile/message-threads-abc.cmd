# class: message
# args: assay tests/data/assay/tiny.toml --out {out} --threads abc
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got 'abc'
# must: --threads must be a positive integer, exit 2
# why: --threads abc: say it is not an integer
