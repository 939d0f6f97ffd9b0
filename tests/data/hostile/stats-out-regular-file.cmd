# class: cli
# args: stats km --data tests/data/stats/aml.csv --time time --event status --group x --out {file}
# exit: 2
# expect: nkscape: error: output folder '{file}': it exists and is not a directory
# must: output folder is not a directory
# why: --out names an existing file
