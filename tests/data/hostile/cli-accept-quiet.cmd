# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} --quiet --threads 1
# exit: 0
# why: a quiet single-thread run prints nothing on stderr
