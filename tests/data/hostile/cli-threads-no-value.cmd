# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} --threads
# exit: 2
# expect: --threads: 1 required TEXT missing
# expect: Run with --help for more information.
# must: exit 2
# why: --threads without a number
