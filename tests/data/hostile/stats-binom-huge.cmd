# class: number
# args: stats binom --successes 1 --trials 1e99
# exit: 2
# expect: Could not convert: --trials = 1e99
# expect: Run with --help for more information.
# must: trials is not a whole number
# why: a count written as a float
