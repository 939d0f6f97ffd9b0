# class: cli
# args: stats median --data tests/data/stats/aml.csv --time time --event status --group x
# exit: 2
# expect: A subcommand is required
# expect: Run with --help for more information.
# must: unknown stats method, exit 2
# why: a method nkscape stats does not have
