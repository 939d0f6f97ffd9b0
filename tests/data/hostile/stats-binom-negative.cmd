# class: number
# args: stats binom --successes -1 --trials 10
# exit: 2
# expect: nkscape: error: binomial interval: successes = -1 is negative
# must: successes must be >= 0
# why: a negative count
