# class: file
# args: simulate {dir} --out {out}
# exit: 2
# expect: {dir}: error: cannot read scenario file '{dir}': it is a directory
# expect: {dir}: 1 error
# must: is a directory, exit 2
# why: a folder given as the scenario: refuse
