#!/bin/sh
# Evaluations per second of `nkscape sensitivity` with 1 and 2 threads and 1 and 2 MPI ranks (one
# thread each), through the CLI (issue 12, item 4). The analysis is tests/data/sensitivity/short.toml
# (touch pass, Morris screening, Sobol: 95 evaluations of a year of untreated TNBC) with --samples S
# base samples (default 64: 15 + 64 x 5 = 335 evaluations). Usage: bench-sensitivity-mpi.sh [S]
set -eu
s=${1:-64}
nk=build/release/apps/nkscape/nkscape
analysis=tests/data/sensitivity/short.toml
evaluations=$((15 + s * 5))
out=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
run() {  # run LABEL COMMAND...
    label=$1; shift
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    python3 -c "import sys; w=$end-$start; print(f'{sys.argv[1]:<24} {w:7.2f} s  {$evaluations/w:8.1f} evaluations/s')" "$label"
}
run "1 rank x 1 thread" $nk sensitivity $analysis --samples "$s" --out "$out/a" --threads 1 -q
run "1 rank x 2 threads" $nk sensitivity $analysis --samples "$s" --out "$out/b" --threads 2 -q
if command -v mpirun >/dev/null 2>&1; then
    run "mpirun -n 2 x 1 thread" mpirun -n 2 $nk sensitivity $analysis --samples "$s" --out "$out/c" --threads 1 -q
    cmp -s "$out/a/indices.csv" "$out/c/indices.csv" || { echo "mpirun -n 2: indices.csv differs"; exit 1; }
fi
cmp -s "$out/a/indices.csv" "$out/b/indices.csv" || { echo "--threads 2: indices.csv differs"; exit 1; }
rm -rf "$out"
