# class: cli
# args: simulate scenarios/simulate/tnbc-untreated.toml --out {out} --threads 2
# exit: 2
# expect: The following arguments were not expected: 2 --threads
# expect: Run with --help for more information.
# must: names the flag, exit 2
# why: simulate has no --threads
