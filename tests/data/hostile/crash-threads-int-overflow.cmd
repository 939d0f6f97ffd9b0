# class: crash
# args: assay tests/data/assay/tiny.toml --out {out} --threads 2147483648
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '2147483648'
# must: --threads is not a positive integer in range, exit 2
# why: a thread count that overflows int: refuse with a message, no wrap-around
