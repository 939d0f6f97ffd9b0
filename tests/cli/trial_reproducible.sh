#!/bin/sh
# Usage: trial_reproducible.sh NKSCAPE TRIAL WORKDIR PATIENTS
# The same trial, run three ways — one thread, two threads, two MPI ranks (when mpirun is
# installed) — and once killed with SIGKILL midway and restarted: patients.csv, arms.json, km.csv,
# waterfall.csv and spider.csv must be the same bytes every time (docs/trials.md, "Reproducible").
set -u
nk=$1
trial=$2
work=$3
n=$4
files="patients.csv arms.json km.csv waterfall.csv spider.csv"
rm -rf "$work"
mkdir -p "$work"
same() {  # same REF OTHER WHAT
    for f in $files; do
        cmp -s "$1/$f" "$2/$f" || { echo "$3: $f differs from the one-thread run"; exit 1; }
    done
}
"$nk" trial "$trial" --out "$work/t1" --patients "$n" --threads 1 -q || { echo "one-thread run failed"; exit 1; }
"$nk" trial "$trial" --out "$work/t2" --patients "$n" --threads 2 -q || { echo "two-thread run failed"; exit 1; }
same "$work/t1" "$work/t2" "--threads 2"
ways="threads 1, threads 2"
if command -v mpirun >/dev/null 2>&1; then
    # Under AddressSanitizer (make asan) leak detection is off for the MPI run only: OpenMPI keeps
    # allocations of its dlopen'ed components until exit, which LeakSanitizer reports as leaks
    # in frames it cannot name (so no suppression can match them). Every other run here, and the
    # same code paths in one process, keep it on.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
        mpirun -n 2 "$nk" trial "$trial" --out "$work/mpi" --patients "$n" --threads 1 -q || { echo "mpirun -n 2 run failed"; exit 1; }
    same "$work/t1" "$work/mpi" "mpirun -n 2"
    ways="$ways, mpirun -n 2"
else
    echo "note: mpirun not installed; the MPI comparison is skipped"
fi
# Killed midway: wait until the journal holds some patients, SIGKILL, run again to the end.
journal="$work/.killed.nkscape-trial-journal"
"$nk" trial "$trial" --out "$work/killed" --patients "$n" --threads 2 -q &
pid=$!
i=0
while [ $i -lt 400 ]; do
    lines=$(cat "$journal"/*.jsonl 2>/dev/null | wc -l)
    [ "$lines" -ge $((n / 4)) ] && break
    sleep 0.01
    i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
kept=$(cat "$journal"/*.jsonl 2>/dev/null | wc -l)
[ "$kept" -ge 1 ] || { echo "the killed run left no journal"; exit 1; }
[ "$kept" -lt "$n" ] || { echo "the run finished before it could be killed (use more patients)"; exit 1; }
[ -f "$work/killed/patients.csv" ] && { echo "a killed run left outputs"; exit 1; }
"$nk" trial "$trial" --out "$work/killed" --patients "$n" --threads 2 > "$work/resumed.txt" || { echo "restarted run failed"; exit 1; }
grep -q "resumed from the journal" "$work/resumed.txt" || { echo "the restarted run did not resume"; cat "$work/resumed.txt"; exit 1; }
same "$work/t1" "$work/killed" "killed after $kept patients and restarted"
[ -d "$journal" ] && { echo "the journal was left after a complete run"; exit 1; }
echo "identical outputs ($ways, killed after $kept of $n and resumed)"
