# class: cli
# args: twin scenarios/twin/example-tnbc-patient.toml --regimens scenarios/twin/tnbc-regimens.toml --out {out} --particles 0
# exit: 2
# expect: nkscape: error: --particles must be in [20, 100000], got 0
# must: --particles out of range is refused with the allowed range
# why: zero particles is no posterior
