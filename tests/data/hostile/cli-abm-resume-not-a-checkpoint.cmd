# class: cli
# args: abm scenarios/abm/her2-trastuzumab.toml --out {out} --resume {dir}
# exit: 2
# expect: nkscape: error: --resume '{dir}': no state.bin there (a folder written by --checkpoint-every)
# must: --resume of a folder without a checkpoint is refused, naming state.bin
# why: a user resumes from the wrong folder
