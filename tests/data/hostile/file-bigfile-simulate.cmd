# class: file
# args: simulate {bigfile} --out {out}
# exit: 2
# expect: {bigfile}: error: cannot read scenario file '{bigfile}': it is 209715200 bytes; input files are limited to 16777216 bytes (16 MiB)
# expect: {bigfile}: 1 error
# must: scenario file larger than the size limit, exit 2
# why: a 200 MB scenario file: refuse by size before reading it
