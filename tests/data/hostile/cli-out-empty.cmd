# class: cli
# args: assay tests/data/assay/tiny.toml --out ''
# exit: 2
# must: --out must not be empty, exit 2
# why: --out '' is no folder: refuse up front
