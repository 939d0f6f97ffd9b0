# class: file
# args: simulate {fifo} --out {out}
# exit: 2
# must: not a regular file, exit 2
# why: the scenario path is a FIFO: refuse without blocking
