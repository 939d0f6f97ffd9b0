# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} --out {out}
# exit: 2
# expect: --out: At Most 1 required but received 2
# expect: Run with --help for more information.
# must: exit 2
# why: --out given twice
