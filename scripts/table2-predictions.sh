#!/bin/sh
# Runs the review's Table 2 as virtual trials (scenarios/trials/nct*.toml, one file per registry
# id, in the order of the table) at each file's own patient count, and prints a Markdown table of
# the predictions: per arm, n (and how many were RECIST-evaluable, if not all), ORR with its exact
# 95 % CI, CBR, median PFS, and the published result the file records in [trial] reference.
# docs/trials.md, "The review's Table 2 as virtual trials", holds its output.
#
# Usage: scripts/table2-predictions.sh [--keep DIR]
#   --keep DIR   write the trial outputs under DIR (kept) instead of a temporary folder (removed)
# Environment: NKSCAPE (the binary; default build/release/apps/nkscape/nkscape), THREADS (default:
# nproc). Needs python3 (json module only). The table goes to stdout, progress and wall time to
# stderr. Exit 1 if a trial file is missing or a run fails.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
nk=${NKSCAPE:-$root/build/release/apps/nkscape/nkscape}
threads=${THREADS:-$(nproc 2>/dev/null || echo 1)}
keep=""
if [ "${1:-}" = "--keep" ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 [--keep DIR]" >&2; exit 2; }
    keep=$2
elif [ -n "${1:-}" ]; then
    echo "usage: $0 [--keep DIR]" >&2
    exit 2
fi
[ -x "$nk" ] || { echo "no nkscape binary at $nk (build it, or set NKSCAPE)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to read arms.json" >&2; exit 1; }

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    out=$(cd "$keep" && pwd)
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/table2.XXXXXX")
    trap 'rm -rf "$out"' EXIT INT TERM
fi

# Table 2 of the review, in its order.
ids="NCT04319757 NCT02844335 NCT02843204 NCT02926196 NCT03941262 NCT02614833 NCT05385705
NCT05686720 NCT02839954 NCT02843126 NCT06026657 NCT02536625 NCT04143711 NCT04307329"

start=$(date +%s)
list=""
for id in $ids; do
    f=$(grep -l "^registry = \"$id\"" "$root"/scenarios/trials/*.toml 2>/dev/null | head -n 1 || true)
    [ -n "$f" ] || { echo "no trial file with registry = \"$id\" in scenarios/trials/" >&2; exit 1; }
    name=$(basename "$f" .toml)
    echo "running $name ..." >&2
    "$nk" trial "$f" --out "$out/$name" --threads "$threads" -q || { echo "$name: nkscape trial failed" >&2; exit 1; }
    list="$list $id:$name"
done
end=$(date +%s)

# $list is split on purpose: one "ID:name" argument per trial.
# shellcheck disable=SC2086
python3 - "$out" $list <<'EOF'
import json, os, sys

out = sys.argv[1]

def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")

def pct(x):
    return f"{100 * x:.1f}"

print("| registry | file | arm | n | ORR % [95 % CI] | CBR % | median PFS | published result |")
print("|---|---|---|---|---|---|---|---|")
for item in sys.argv[2:]:
    reg, name = item.split(":", 1)
    with open(os.path.join(out, name, "arms.json")) as fh:
        arms = json.load(fh)
    with open(os.path.join(out, name, "summary.json")) as fh:
        summary = json.load(fh)
    published = summary["trial"].get("published_result", "") or "—"
    for k, a in enumerate(arms["arms"]):
        orr = a["objective_response"]
        evaluable = a["evaluable"]
        n_text = str(a["patients"]) + (f" ({evaluable} evaluable)" if evaluable < a["patients"] else "")
        if evaluable > 0:
            lo, hi = orr["ci95_low"], orr["ci95_high"]
            orr_text = f"{pct(orr['rate'])} [{pct(lo)}, {pct(hi)}]"
        else:
            orr_text = "n/a (none evaluable)"
        cbr = a["clinical_benefit"]
        cbr_text = pct(cbr["rate"]) if evaluable > 0 else "n/a"
        med = a["PFS"]["median_d"]
        pfs_text = f"{med:.0f} d" if med is not None else "not reached"
        first = k == 0
        print("| " + " | ".join([
            reg if first else "",
            f"`{name}.toml`" if first else "",
            cell(a["arm"]),
            n_text,
            orr_text,
            cbr_text,
            pfs_text,
            cell(published) if first else "",
        ]) + " |")
EOF
echo "wall time: $((end - start)) s for $(echo "$ids" | wc -w) trials ($threads threads)" >&2
