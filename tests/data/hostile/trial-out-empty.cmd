# class: cli
# args: trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out ''
# exit: 2
# expect: nkscape: error: output folder '': the path is empty; give --out a folder name
# must: an empty --out is refused before the run
# why: outputs must have a place
