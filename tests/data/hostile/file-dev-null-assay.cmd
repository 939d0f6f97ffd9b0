# class: file
# args: assay /dev/null --out {out}
# exit: 2
# must: not a regular file, exit 2
# why: /dev/null as the scenario: refuse (not a regular file), never an empty scenario
