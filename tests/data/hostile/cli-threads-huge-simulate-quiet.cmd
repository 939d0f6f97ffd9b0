# class: cli
# args: assay tests/data/assay/tiny.toml --out {out} -t 99999999999999999999
# exit: 2
# expect: Could not convert: --threads = 99999999999999999999
# expect: Run with --help for more information.
# must: --threads must be a positive integer in range, exit 2
# why: --threads beyond 64 bits
