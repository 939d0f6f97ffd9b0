#!/usr/bin/env bash
# Runs the unit and validation test binaries and three CLI runs under valgrind memcheck, on the
# Release build (make build first). Any memcheck error (invalid read or write, use of an
# uninitialised value, a definite leak) fails the run. Slow: about an hour on 2 cores.
#
#   scripts/valgrind-tests.sh [GTEST_FILTER]
#
# Logs go to build/valgrind/; the summary line of each is printed. The hostile-input corpus is not
# run here: its 10 s limit per case does not hold under valgrind (it runs under ASan in CI).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
filter=${1:-*}
command -v valgrind >/dev/null || { echo "valgrind-tests: valgrind is not installed (make deps installs it)" >&2; exit 2; }
bin=build/release
logs=build/valgrind
mkdir -p "$logs"
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --num-callers=30)
status=0
run() {
    local name=$1; shift
    local log=$logs/$name.log
    echo "valgrind-tests: $name"
    if "${vg[@]}" --log-file="$log" "$@" >"$logs/$name.out" 2>&1; then :; else
        echo "valgrind-tests: $name FAILED (exit $?; $log)" >&2
        status=1
    fi
    grep -h "ERROR SUMMARY" "$log" | tail -n1
}
run unit "$bin/tests/nkscape_unit_tests" --gtest_filter="$filter"
run validation "$bin/tests/nkscape_validation_tests" --gtest_filter="$filter"
run cli-validate "$bin/apps/nkscape/nkscape" validate models/default.toml
run cli-assay "$bin/apps/nkscape/nkscape" assay tests/data/assay/tiny.toml --out "$logs/assay-out" --threads 2 --quiet
run cli-simulate "$bin/apps/nkscape/nkscape" simulate scenarios/simulate/tnbc-untreated.toml --out "$logs/simulate-out" --quiet
exit $status
