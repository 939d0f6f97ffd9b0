# class: file
# args: simulate {bigfile} --out {out}
# exit: 2
# must: scenario file larger than the size limit, exit 2
# why: a 200 MB scenario file: refuse by size before reading it
