# class: message
# args: assay tests/data/assay/tiny.toml --out {out} --threads 1.5
# exit: 2
# expect: Could not convert: --threads = 1.5
# expect: Run with --help for more information.
# must: --threads must be a positive integer, exit 2
# why: --threads 1.5: not an integer
