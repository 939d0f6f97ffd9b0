# class: crash
# args: assay tests/data/assay/tiny.toml --out {out} --threads 100000
# exit: 2
# expect: nkscape: error: --threads: must be a whole number from 1 to {maxthreads} (4 per core of this machine; docs/limits.md), got '100000'
# must: --threads above the thread limit (names the limit), exit 2, no thread is started
# why: a user asks for 100000 worker threads (SIGSEGV today): refuse it up front
