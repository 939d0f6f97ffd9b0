# class: cli
# args: assay tests/data/assay/tiny.toml --out {file}
# exit: 2
# expect: nkscape: error: output folder '{file}': it exists and is not a directory
# must: --out exists and is not a directory, exit 2
# why: --out names an existing regular file: refuse before running
