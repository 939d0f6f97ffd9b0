# class: cli
# args: simulate scenarios/simulate/tnbc-untreated.toml
# exit: 2
# expect: --out is required
# expect: Run with --help for more information.
# must: --out is required, exit 2
# why: --out forgotten
