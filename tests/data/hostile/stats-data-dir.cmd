# class: file
# args: stats km --data {dir} --time time --event status --group x
# exit: 2
# expect: nkscape: error: cannot read data file: cannot read '{dir}': it is a directory
# must: cannot read data file: a directory
# why: a folder as survival data
