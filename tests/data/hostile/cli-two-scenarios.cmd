# class: cli
# args: assay tests/data/assay/tiny.toml tests/data/assay/tiny.toml --out {out}
# exit: 2
# expect: The following argument was not expected: tests/data/assay/tiny.toml
# expect: Run with --help for more information.
# must: one SCENARIO only, exit 2
# why: two scenarios to assay
