# class: file
# args: assay /dev/zero --out {out}
# exit: 2
# must: not a regular file, exit 2
# why: /dev/zero as the scenario (read whole today): refuse
