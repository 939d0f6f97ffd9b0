#!/bin/sh
# Usage: sensitivity_reproducible.sh NKSCAPE ANALYSIS WORKDIR
# The same sensitivity analysis run three ways — one thread, two threads, two MPI ranks (when
# mpirun is installed): indices.csv, samples.csv and influential.txt must be the same bytes every
# time (docs/sensitivity.md, "Reproducible"), and indices.csv must hold Sobol rows with finite values.
set -u
nk=$1
analysis=$2
work=$3
files="indices.csv samples.csv influential.txt"
rm -rf "$work"
mkdir -p "$work"
same() {  # same REF OTHER WHAT
    for f in $files; do
        cmp -s "$1/$f" "$2/$f" || { echo "$3: $f differs from the one-thread run"; exit 1; }
    done
}
"$nk" sensitivity "$analysis" --out "$work/t1" --threads 1 -q || { echo "one-thread run failed"; exit 1; }
"$nk" sensitivity "$analysis" --out "$work/t2" --threads 2 -q || { echo "two-thread run failed"; exit 1; }
same "$work/t1" "$work/t2" "--threads 2"
rows=$(grep -c ',sobol,S[1T],' "$work/t1/indices.csv")
[ "$rows" -ge 6 ] || { echo "indices.csv has $rows Sobol rows, expected at least 6"; cat "$work/t1/indices.csv"; exit 1; }
ways="threads 1, threads 2"
if command -v mpirun >/dev/null 2>&1; then
    # As in trial_reproducible.sh: leak detection off for the MPI run only (OpenMPI's own allocations).
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
        mpirun -n 2 "$nk" sensitivity "$analysis" --out "$work/mpi" --threads 1 -q || { echo "mpirun -n 2 run failed"; exit 1; }
    same "$work/t1" "$work/mpi" "mpirun -n 2"
    ways="$ways, mpirun -n 2"
else
    echo "note: mpirun not installed; the MPI comparison is skipped"
fi
echo "identical outputs ($ways; $rows Sobol rows)"
