# class: cli
# args: trial scenarios/simulate/tnbc-untreated.toml --out {out}
# exit: 2
# expect: scenarios/simulate/tnbc-untreated.toml:1:1: error: [trial]: key 'base': missing required key (the simulation scenario giving the tumour environment, relative to this file)
# expect: scenarios/simulate/tnbc-untreated.toml:1:1: error: key 'trial': missing required table [trial] (name, kind, base, seed, patients)
# expect: scenarios/simulate/tnbc-untreated.toml:1:1: error: key 'follow_up': missing required table [follow_up] (duration, assessment_interval)
# expect: scenarios/simulate/tnbc-untreated.toml:12:2: error: key 'scenario': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:19:2: error: key 'simulation': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:27:2: error: key 'tumour': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:32:3: error: key 'clone': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:49:3: error: key 'nk': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:57:3: error: key 'population': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml:83:2: error: key 'patient': unknown top-level key; expected one of: trial, follow_up, subtype, attribute, prior, correlation, biomarker, inclusion, arm, match
# expect: scenarios/simulate/tnbc-untreated.toml: 10 errors
# must: a scenario is not a trial
# why: the wrong kind of file is reported with its line
