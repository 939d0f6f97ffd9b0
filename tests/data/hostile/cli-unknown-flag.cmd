# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} --frobnicate
# exit: 2
# expect: The following argument was not expected: --frobnicate
# expect: Run with --help for more information.
# must: names the flag, exit 2
# why: an unknown flag
