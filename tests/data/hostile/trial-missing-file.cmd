# class: cli
# args: trial tests/data/hostile/no-such-trial.toml --out {out}
# exit: 2
# expect: tests/data/hostile/no-such-trial.toml: error: cannot read trial file 'tests/data/hostile/no-such-trial.toml': No such file or directory
# expect: tests/data/hostile/no-such-trial.toml: 1 error
# must: cannot read trial file
# why: a missing file names itself
