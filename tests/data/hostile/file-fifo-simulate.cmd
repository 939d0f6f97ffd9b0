# class: file
# args: simulate {fifo} --out {out}
# exit: 2
# expect: {fifo}: error: cannot read scenario file '{fifo}': it is a FIFO (named pipe), not a regular file
# expect: {fifo}: 1 error
# must: not a regular file, exit 2
# why: the scenario path is a FIFO: refuse without blocking
