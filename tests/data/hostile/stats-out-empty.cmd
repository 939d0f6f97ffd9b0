# class: cli
# args: stats km --data tests/data/stats/aml.csv --time time --event status --group x --out ''
# exit: 2
# expect: nkscape: error: output folder '': the path is empty; give --out a folder name
# must: output folder '': the path is empty, before computing
# why: an empty --out
