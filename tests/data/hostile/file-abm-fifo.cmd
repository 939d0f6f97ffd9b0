# class: file
# args: abm {fifo} --out {out}
# exit: 2
# expect: {fifo}: error: cannot read scenario file '{fifo}': it is a FIFO (named pipe), not a regular file
# expect: {fifo}: 1 error
# must: a FIFO as scenario is refused without waiting for a writer
# why: a user passes a named pipe
