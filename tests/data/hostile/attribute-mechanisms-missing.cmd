# class: file
# args: attribute tests/data/attribution/tnbc-three-arms.toml --arm untreated --mechanisms does-not-exist.toml --out {out}
# exit: 2
# expect: does-not-exist.toml: error: cannot read mechanisms file 'does-not-exist.toml': No such file or directory
# expect: does-not-exist.toml: 1 error
# must: a missing mechanisms file is named
# why: a wrong --mechanisms path
