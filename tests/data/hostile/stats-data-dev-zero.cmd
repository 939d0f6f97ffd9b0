# class: file
# args: stats km --data /dev/zero --time time --event status --group x
# exit: 2
# expect: nkscape: error: cannot read data file: cannot read '/dev/zero': it is a character device, not a regular file
# must: cannot read data file: not a regular file, exit 2 at once
# why: a device as survival data
