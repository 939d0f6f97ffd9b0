# class: cli
# args: trial tests/data --out {out}
# exit: 2
# expect: tests/data: error: cannot read trial file 'tests/data': it is a directory
# expect: tests/data: 1 error
# must: cannot read trial file
# why: a folder is not a trial file
