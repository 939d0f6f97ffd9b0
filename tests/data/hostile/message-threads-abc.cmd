# class: message
# args: assay tests/data/assay/tiny.toml --out {out} --threads abc
# exit: 2
# must: --threads must be a positive integer, exit 2
# why: --threads abc: say it is not an integer
