# class: cli
# args: assay --out {out}
# exit: 2
# expect: SCENARIO is required
# expect: Run with --help for more information.
# must: SCENARIO is required, exit 2
# why: no scenario argument
