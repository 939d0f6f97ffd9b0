# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out {out} --threads abc
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got 'abc'
# must: a thread count that is not a number is refused
# why: same check as every command
