# class: file
# args: assay tests/data/hostile/does-not-exist.toml --out {out}
# exit: 2
# expect: tests/data/hostile/does-not-exist.toml: error: cannot read scenario file 'tests/data/hostile/does-not-exist.toml': No such file or directory
# expect: tests/data/hostile/does-not-exist.toml: 1 error
# must: cannot read scenario file, exit 2
# why: a typo in the scenario path: say it cannot be read
