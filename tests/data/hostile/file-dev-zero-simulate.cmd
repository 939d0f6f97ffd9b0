# class: file
# args: simulate /dev/zero --out {out}
# exit: 2
# must: not a regular file, exit 2
# why: /dev/zero as the scenario: refuse
