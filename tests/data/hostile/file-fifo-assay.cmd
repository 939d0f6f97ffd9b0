# class: file
# args: assay {fifo} --out {out}
# exit: 2
# expect: {fifo}: error: cannot read scenario file '{fifo}': it is a FIFO (named pipe), not a regular file
# expect: {fifo}: 1 error
# must: cannot read scenario file: not a regular file, exit 2
# why: the scenario path is a FIFO nobody writes to (hangs today): refuse without opening it for reading
