#!/bin/sh
# Usage: kill_run.sh NKSCAPE SCENARIO OUT
# Whole runs or nothing, through the CLI: a complete `nkscape simulate` run into OUT, then runs
# killed with SIGKILL after varying delays; after each, OUT must be one complete run (the previous
# or the new one). Finally a run to completion must leave no stale staging/old folder next to OUT
# and no temporary file in it.
set -u
nk=$1
scenario=$2
out=$3
here=$(dirname "$0")
parent=$(dirname "$out")
name=$(basename "$out")
rm -rf "$out"
mkdir -p "$parent"
"$nk" simulate "$scenario" --quiet --out "$out" || { echo "first run failed"; exit 1; }
sh "$here/check_run_folder.sh" "$out" || exit 1
killed=0
for delay in 0 0.02 0.04 0.06 0.08 0.1 0.12 0.15 0.2 0.3 0.5; do
    "$nk" simulate "$scenario" --quiet --out "$out" &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
    wait "$pid" 2>/dev/null
    sh "$here/check_run_folder.sh" "$out" || { echo "after a kill at ${delay} s: not one complete run"; exit 1; }
done
"$nk" simulate "$scenario" --quiet --out "$out" || { echo "last run failed"; exit 1; }
sh "$here/check_run_folder.sh" "$out" || exit 1
stale=$(ls -A "$parent" | grep -E "^\.$name\.nkscape-(partial|old)\.[0-9]+\$")
[ -z "$stale" ] || { echo "stale folders left next to $out: $stale"; exit 1; }
tmp=$(ls -A "$out" | grep -E '\.tmp$')
[ -z "$tmp" ] || { echo "temporary files left in $out: $tmp"; exit 1; }
echo "killed $killed runs, $out always one complete run, nothing stale"
