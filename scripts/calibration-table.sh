#!/usr/bin/env bash
# Regenerates the table of docs/calibration.md ("The table (shipped default model)") from the
# calibration test (tests/calibration/test_calibration.cpp), which computes every target of
# calibration/targets.toml with the shipped default model. Run after `make build`; ~1 minute.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/tests/nkscape_calibration_tests
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
rows=$("$bin" --gtest_filter='Targets/*' 2>/dev/null | grep '^| ' || true)
[ -n "$rows" ] || { echo "no rows from $bin" >&2; exit 1; }
python3 - "$rows" <<'PY'
import re, sys
rows = sys.argv[1].strip().split('\n')
doc = open('docs/calibration.md').read()
head = '## The table (shipped default model)\n'
i = doc.index(head)
j = doc.find('\n## ', i + len(head))
j = len(doc) if j < 0 else j
passed = sum(r.rstrip().endswith('| pass |') for r in rows)
expected = sum('| expected failure' in r for r in rows)
skipped = sum('| skipped' in r for r in rows)
failed = sum(r.rstrip().endswith('| FAIL |') for r in rows)
body = (head + '\n' + f'{len(rows)} targets: {passed} pass, {expected} expected failures, {skipped} not implemented'
        + (f', {failed} FAIL' if failed else '') + ' (scripts/calibration-table.sh).\n\n'
        + '| target | observed | simulated | band | result |\n|---|---|---|---|---|\n' + '\n'.join(rows) + '\n')
open('docs/calibration.md', 'w').write(doc[:i] + body + doc[j:])
print(f'{len(rows)} rows: {passed} pass, {expected} expected failures, {skipped} not implemented, {failed} FAIL')
PY
