# class: file
# args: assay {dir} --out {out}
# exit: 2
# expect: {dir}: error: cannot read scenario file '{dir}': it is a directory
# expect: {dir}: 1 error
# must: cannot read scenario file: is a directory, exit 2
# why: a folder given as the scenario: refuse
