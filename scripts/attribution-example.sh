#!/bin/sh
# Regenerates the results tables of docs/attribution.md ("Results of the shipped examples"):
# mechanism attribution of the default TNBC trial's avelumab arm and of the first-line
# pembrolizumab trial (KEYNOTE-086 B, calibration target TE5), each with every enrolled patient
# (200) given the arm's regimen. Rerun after recalibrating the model and paste the tables.
# Usage: scripts/attribution-example.sh [OUTDIR]   (about a minute on two cores)
set -eu
nk=build/release/apps/nkscape/nkscape
out=${1:-out/attribution-example}
mkdir -p "$out"
run() {  # run NAME TRIAL ARM
    start=$(date +%s.%N)
    $nk attribute "$2" --arm "$3" --out "$out/$1" -q
    end=$(date +%s.%N)
    python3 - "$out/$1" "$2" "$3" "$start" "$end" <<'PY'
import csv, json, sys
d, trial, arm, start, end = sys.argv[1:]
s = json.load(open(f"{d}/summary.json"))
b = s["baseline"]
o = b["objective_response"]
print(f"\n### {s['trial']['name']}, arm '{arm}'\n")
print(f"`nkscape attribute {trial} --arm \"{arm}\"`: {b['patients']} patients ({b['failed']} failed), "
      f"ORR {100*o['rate']:.1f} % [{100*o['ci95_low']:.1f}, {100*o['ci95_high']:.1f}]; "
      f"{s['run']['simulations']} simulations in {float(end)-float(start):.0f} s (2 threads).\n")
print("| mechanism | rescued / non-responders | share [95 % CI] | mean change of best SLD, pp [95 % CI] | harmed | ORR with → without (McNemar p) | CB gained / no CB |")
print("|---|---|---|---|---|---|---|")
for r in csv.DictReader(open(f"{d}/attribution.csv")):
    pc = lambda x: f"{100*float(x):.1f}" if x != "" else "–"
    mc = f"{float(r['mean_change_pp']):+.3g} [{float(r['mean_change_ci95_low']):+.3g}, {float(r['mean_change_ci95_high']):+.3g}]" if r['mean_change_pp'] else "–"
    print(f"| {r['mechanism']} | {r['rescued']} / {r['non_responders']} | {pc(r['share'])} % [{pc(r['ci95_low'])}, {pc(r['ci95_high'])}] | {mc} | "
          f"{r['harmed']} / {r['responders']} | {pc(r['orr_with'])} % → {pc(r['orr_without'])} % ({float(r['mcnemar_p']):.2g}) | {r['benefit_gained']} / {r['no_benefit']} |")
PY
}
run tnbc-avelumab scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml "avelumab weekly"
run tnbc-untreated scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml "untreated"
run te5-pembrolizumab calibration/trials/te5-pembrolizumab-first-line-pdl1.toml "pembrolizumab"
