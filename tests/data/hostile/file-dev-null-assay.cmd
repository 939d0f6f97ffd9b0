# class: file
# args: assay /dev/null --out {out}
# exit: 2
# expect: /dev/null: error: cannot read scenario file '/dev/null': it is a character device, not a regular file
# expect: /dev/null: 1 error
# must: not a regular file, exit 2
# why: /dev/null as the scenario: refuse (not a regular file), never an empty scenario
