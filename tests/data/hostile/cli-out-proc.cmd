# class: cli
# args: assay tests/data/assay/tiny.toml --out /proc/x
# exit: 2
# expect: nkscape: error: output folder '/proc/x': cannot create a staging folder in '/proc': No such file or directory (is '/proc' a writable folder?)
# must: cannot create --out folder /proc/x (reason), exit 2, checked before the run
# why: --out /proc/x cannot be created: refuse before running the assay
