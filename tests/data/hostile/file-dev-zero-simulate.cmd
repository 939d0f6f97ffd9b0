# class: file
# args: simulate /dev/zero --out {out}
# exit: 2
# expect: /dev/zero: error: cannot read scenario file '/dev/zero': it is a character device, not a regular file
# expect: /dev/zero: 1 error
# must: not a regular file, exit 2
# why: /dev/zero as the scenario: refuse
