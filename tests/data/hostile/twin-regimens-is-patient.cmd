# class: structure
# args: twin scenarios/twin/example-tnbc-patient.toml --regimens scenarios/twin/example-tnbc-patient.toml --out {out}
# exit: 2
# expect: scenarios/twin/example-tnbc-patient.toml:1:1: error: [trial]: key 'base': missing required key (the simulation scenario giving the tumour environment, relative to this file)
# expect: scenarios/twin/example-tnbc-patient.toml:1:1: error: key 'trial': missing required table [trial] (name, kind, base, seed, patients)
# expect: scenarios/twin/example-tnbc-patient.toml:1:1: error: key 'follow_up': missing required table [follow_up] (duration, assessment_interval)
# expect: scenarios/twin/example-tnbc-patient.toml:7:2: error: key 'patient': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/twin/example-tnbc-patient.toml:17:3: error: key 'measurement': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/twin/example-tnbc-patient.toml: 5 errors
# must: a patient file given as the regimens file is refused as not a trial file
# why: swapped arguments must say what is wrong
