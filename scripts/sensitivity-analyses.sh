#!/bin/sh
# Runs the four shipped sensitivity analyses (scenarios/sensitivity/*.toml) and writes their result
# tables, with bootstrap 95 % CIs, into docs/sensitivity.md between the "results" markers
# (issue 12, item 4). Deterministic: the same model gives the same tables, whatever THREADS.
#
#   scripts/sensitivity-analyses.sh              # 2 threads, outputs under out/sensitivity/
#   THREADS=4 OUT=/tmp/sens scripts/sensitivity-analyses.sh
#   TABLES_ONLY=1 OUT=/tmp/sens scripts/sensitivity-analyses.sh   # rewrite the tables from earlier runs
#
# Re-run it after every recalibration of the model: the tables describe the model as it is.
set -eu
nk=${NKSCAPE:-build/release/apps/nkscape/nkscape}
threads=${THREADS:-2}
out=${OUT:-out/sensitivity}
doc=docs/sensitivity.md
analyses=${ANALYSES:-"tnbc-untreated her2-trastuzumab tnbc-pembrolizumab her2-car-nk"}
mkdir -p "$out"
if [ -z "${TABLES_ONLY:-}" ]; then
    total_start=$(date +%s)
    for a in $analyses; do
        start=$(date +%s)
        "$nk" sensitivity "scenarios/sensitivity/$a.toml" --out "$out/$a" --threads "$threads" -q
        end=$(date +%s)
        echo "$a: $((end - start)) s" | tee "$out/$a.seconds"
    done
    total_end=$(date +%s)
    echo "all four: $((total_end - total_start)) s on $threads threads"
fi
python3 - "$out" "$doc" $analyses <<'PY'
import csv, json, sys
out, doc, names = sys.argv[1], sys.argv[2], sys.argv[3:]
def f(v, d=3):
    return "" if v == "" else f"{float(v):.{d}f}"
lines = []
for name in names:
    s = json.load(open(f"{out}/{name}/summary.json"))
    rows = list(csv.DictReader(open(f"{out}/{name}/indices.csv")))
    a = s["analysis"]
    o = s["outputs"][0]
    stages = {st["method"]: st for st in s["stages"]}
    lines.append(f"### {a['name']}\n")
    lines.append(f"`scenarios/sensitivity/{name}.toml` — output `{o['id']}` ({o['statistic']} of `{o['column']}` at {o['time_d']:g} d"
                 f"{', log10' if o['log10'] else ''}) of `{o['file']}`.\n")
    touch = stages.get("touch", {})
    scr = s.get("screening", {})
    lines.append(f"Parameters with a range: {len(s['parameters'])} ({len(s['left_out'])} left out); "
                 f"touch pass: {touch.get('parameters', 0) - touch.get('untouched', 0)} change the output at the baseline; "
                 f"Morris screening ({scr.get('trajectories', 0)} trajectories) kept {len(scr.get('kept', []))}; "
                 f"Sobol N = {a['samples']} ({stages['sobol']['evaluations']} evaluations), {a['bootstrap']} bootstrap resamples. "
                 f"Evaluations: {sum(st['evaluations'] for st in s['stages'])} in "
                 f"{open(f'{out}/{name}.seconds').read().split(': ')[1].strip()} on {s['run']['threads_per_rank']} "
                 f"thread{'s' if s['run']['threads_per_rank'] != 1 else ''}.\n")
    for st in s["stages"]:
        for x in st.get("outputs", []):
            if x["failed_points"]:
                first = x.get("first_failure", "")
                lines.append(f"Failed points ({st['method']}): {x['failed_points']} of {st['evaluations']}"
                             f"{', base rows dropped: ' + str(x['dropped_base_rows']) if 'dropped_base_rows' in x else ''}; first: {first[:160]}….\n")
    sob = {}
    for r in rows:
        if r["method"] == "sobol":
            sob.setdefault(r["parameter"], {})[r["index"]] = r
    mor = {r["parameter"]: r for r in rows if r["method"] == "morris" and r["index"] == "mu_star"}
    lines.append("| parameter | Morris mu* [95 % CI] | Sobol S1 [95 % CI] | Sobol ST [95 % CI] |")
    lines.append("|---|---|---|---|")
    for p, d in sorted(sob.items(), key=lambda kv: -float(kv[1]["ST"]["value"])):
        m = mor.get(p)
        ms = f"{f(m['value'])} [{f(m['ci95_low'])}, {f(m['ci95_high'])}]" if m else ""
        s1, st = d["S1"], d["ST"]
        lines.append(f"| `{p}` | {ms} | {f(s1['value'])} [{f(s1['ci95_low'])}, {f(s1['ci95_high'])}] | "
                     f"{f(st['value'])} [{f(st['ci95_low'])}, {f(st['ci95_high'])}] |")
    infl = [x["path"] for x in s["influential"]]
    lines.append("")
    lines.append(f"Influential (Sobol total >= {s['influential_threshold_total']:g}): " + (", ".join(f"`{p}`" for p in infl) if infl else "none") + ".\n")
text = open(doc).read()
begin, end = "<!-- results:begin -->", "<!-- results:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
open(doc, "w").write(text[:i] + "\n" + "\n".join(lines) + "\n" + text[j:])
print(f"wrote the tables of {len(names)} analyses into {doc}")
PY
