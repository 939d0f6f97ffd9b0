# class: file
# args: stats km --data {fifo} --time time --event status --group x
# exit: 2
# expect: nkscape: error: cannot read data file: cannot read '{fifo}': it is a FIFO (named pipe), not a regular file
# must: cannot read data file: a FIFO, exit 2 without waiting
# why: a FIFO nobody writes to as survival data
