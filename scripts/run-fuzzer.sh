#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time on a scratch copy of the seed corpus.
#
#   scripts/run-fuzzer.sh BINARY SECONDS [SEED_DIRS [DICT]]
#
# The seeds (SEED_DIRS, default fuzz/corpus/) are copied to build/fuzz-run/<target>/corpus/ (new
# inputs go there, never into the seed folder); DICT defaults to fuzz/model.dict. Crash, timeout, leak and OOM reproducers go to
# build/fuzz-run/<target>/artifacts/. Exit status: 0 if the run ended without a finding, 1 if it
# found something (the log and the reproducer are printed), 2 on a usage error.
# FUZZ_DETECT_LEAKS=0 turns off libFuzzer's per-input leak check (faster; leaks are then not findings).
set -euo pipefail

usage() { echo "usage: $0 BINARY SECONDS [SEED_DIRS [DICT]]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 4 ]] || usage
binary=$1
seconds=$2
[[ -x $binary ]] || { echo "run-fuzzer: '$binary' is not an executable (build it with: make fuzz)" >&2; exit 2; }
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "run-fuzzer: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=$(basename "$binary")
seeds=${3:-$root/fuzz/corpus}
dict=${4:-$root/fuzz/model.dict}
work=$root/build/fuzz-run/$name
# SEED_DIRS: folders separated by ':', their *.toml files the seeds. The scenario fuzzers seed from
# the shipped scenarios and the test data in place, so no copy of them can go stale.
IFS=: read -r -a seedDirs <<<"$seeds"
for d in "${seedDirs[@]}"; do
  [[ -d $d ]] || { echo "run-fuzzer: no seed folder at $d" >&2; exit 2; }
done

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
for d in "${seedDirs[@]}"; do
  # Files of the same name in two folders are both kept (prefixed with their folder's name).
  for f in "$d"/*.toml; do [[ -f $f ]] && cp "$f" "$work/corpus/$(basename "$d")--$(basename "$f")"; done
done
[[ -n $(ls -A "$work/corpus") ]] || { echo "run-fuzzer: no *.toml seeds in $seeds" >&2; exit 2; }

args=(
  -max_total_time="$seconds"
  -timeout=10
  -rss_limit_mb=2048
  -print_final_stats=1
  -artifact_prefix="$work/artifacts/"
  -detect_leaks="${FUZZ_DETECT_LEAKS:-1}"
)
if [[ $# -ge 4 ]]; then
  [[ -f $dict ]] || { echo "run-fuzzer: no dictionary at $dict" >&2; exit 2; }
fi
[[ -f $dict ]] && args+=(-dict="$dict")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# Known third-party leaks (fuzz/lsan.supp says which and why); ours still fail the run.
supp=$(cd "$(dirname "$0")/.." && pwd)/fuzz/lsan.supp
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "run-fuzzer: $name for ${seconds}s; corpus $work/corpus ($(ls "$work/corpus" | wc -l) seeds)"
log=$work/fuzz.log
set +e
"$binary" "${args[@]}" "$work/corpus" >"$log" 2>&1
rc=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1 || true)
artifacts=$(find "$work/artifacts" -type f | sort)

if [[ $rc -ne 0 || -n $artifacts ]]; then
  # The report: from the first error line, at most 40 lines (deep recursions print thousands of frames).
  if grep -qE '==ERROR|ERROR: libFuzzer|runtime error:|deadly signal' "$log"; then
    grep -m1 -A40 -E '==ERROR|ERROR: libFuzzer|runtime error:|deadly signal' "$log" | cut -c1-300 >&2
    grep -E '^SUMMARY' "$log" >&2 || true
  else
    tail -n 40 "$log" | cut -c1-300 >&2
  fi
  echo "run-fuzzer: FINDING (exit $rc) after ${execs:-?} executions; reproducer(s):" >&2
  for a in $artifacts; do echo "  $a   (replay: $binary $a)" >&2; done
  exit 1
fi
echo "run-fuzzer: no finding in ${seconds}s: ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-coverage n/a}; corpus now $(ls "$work/corpus" | wc -l) inputs (log: $log)"
