# class: cli
# args: assay tests/data/assay/tiny.toml --out {dir}
# exit: 0
# why: an existing empty folder as --out is fine
