# class: cli
# args: calibrate tests/data/calibrate/targets.toml --only S-doubling,NOPE --free cell_type/TNBC/doubling_time --out {out}
# exit: 2
# expect: nkscape: error: --only: no target 'NOPE' in tests/data/calibrate/targets.toml (its targets: S-doubling, S-blood-nk, S-later, S-prolif)
# must: an unknown target id in --only is refused, listing the file's targets
# why: a misspelt target id
