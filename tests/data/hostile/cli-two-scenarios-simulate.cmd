# class: cli
# args: simulate scenarios/simulate/tnbc-untreated.toml scenarios/simulate/tnbc-untreated.toml --out {out}
# exit: 2
# expect: The following argument was not expected: scenarios/simulate/tnbc-untreated.toml
# expect: Run with --help for more information.
# must: one SCENARIO only, exit 2
# why: two scenarios to simulate
