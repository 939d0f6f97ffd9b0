# class: cli
# args: simulat {out}
# exit: 2
# expect: A subcommand is required
# expect: Run with --help for more information.
# must: exit 2
# why: a misspelt subcommand
