# class: number
# args: stats binom --successes 0 --trials 0
# exit: 2
# expect: nkscape: error: binomial interval: trials = 0; at least 1 is needed
# must: trials must be >= 1
# why: a proportion of nothing
