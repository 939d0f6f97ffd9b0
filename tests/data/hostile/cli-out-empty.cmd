# class: cli
# args: assay tests/data/assay/tiny.toml --out ''
# exit: 2
# expect: nkscape: error: output folder '': the path is empty; give --out a folder name
# must: --out must not be empty, exit 2
# why: --out '' is no folder: refuse up front
