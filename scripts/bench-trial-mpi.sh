#!/bin/sh
# Patients per second of the default two-arm TNBC trial with 1 and 2 MPI ranks (one thread each),
# and with 1 rank x 2 threads, through the CLI (issue 11, item 8). Usage: bench-trial-mpi.sh [PATIENTS]
set -eu
n=${1:-2000}
nk=build/release/apps/nkscape/nkscape
trial=scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml
out=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
run() {  # run LABEL COMMAND...
    label=$1; shift
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    python3 -c "import sys; w=$end-$start; print(f'{sys.argv[1]:<24} {w:7.2f} s  {$n/w:8.1f} patients/s')" "$label"
}
run "1 rank x 1 thread" $nk trial $trial --out "$out/a" --patients "$n" --threads 1 -q
run "1 rank x 2 threads" $nk trial $trial --out "$out/b" --patients "$n" --threads 2 -q
run "mpirun -n 1 x 1 thread" mpirun -n 1 $nk trial $trial --out "$out/c" --patients "$n" --threads 1 -q
run "mpirun -n 2 x 1 thread" mpirun -n 2 $nk trial $trial --out "$out/d" --patients "$n" --threads 1 -q
cmp -s "$out/a/arms.json" "$out/d/arms.json" && echo "arms.json identical across runs"
rm -rf "$out"
