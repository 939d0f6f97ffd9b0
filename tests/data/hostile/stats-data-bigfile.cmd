# class: file
# args: stats logrank --data {bigfile} --time time --event status --group x
# exit: 2
# expect: nkscape: error: cannot read data file: cannot read '{bigfile}': it is 209715200 bytes; input files are limited to 16777216 bytes (16 MiB)
# must: cannot read data file: over the 16 MiB input cap
# why: a 200 MB file as survival data
