# class: cli
# args: abm tests/data/hostile/number-abm-nan-voxel.toml --out {out} --checkpoint-every -5
# exit: 2
# expect: nkscape: error: --checkpoint-every must be a positive number of simulated minutes, got -5
# must: a negative --checkpoint-every is refused before the scenario is run
# why: a typo on the command line
