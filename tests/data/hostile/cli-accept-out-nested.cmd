# class: cli
# args: simulate scenarios/simulate/tnbc-untreated.toml --out {out}/a/b/c -q
# exit: 0
# why: a nested --out folder is created
