# class: message
# args: assay tests/data/assay/tiny.toml --out {out} --threads -1
# exit: 2
# must: --threads must be a positive integer, exit 2
# why: --threads -1: say it must be positive
