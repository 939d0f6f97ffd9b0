# class: cli
# args: calibrate tests/data/calibrate/targets.toml --only S-blood-nk --free therapy/trastuzumab/mechanism[0].fc_gain --out {out}
# exit: 2
# expect: nkscape: error: free parameter 'therapy/trastuzumab/mechanism[0].fc_gain' has no plausible `range` in model 'nkscape-default'; a fit searches the range, so give the parameter one in the model file (or an overlay's base)
# must: a --free parameter without a plausible range is refused: a fit searches the range
# why: fitting a parameter the model gives no range
