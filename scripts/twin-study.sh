#!/bin/sh
# The twin's longer validation study (docs/twin.md, "Validation"): synthetic patients drawn from
# the shipped TNBC population with known parameters, the twin run on each, then the coverage of
# its 90 % credible intervals and how often it ranks the true best regimen first.
#
#   scripts/twin-study.sh [PATIENTS] [PARTICLES] [THREADS] [REGIMENS]
#
# Defaults: 40 patients, 300 particles, 2 threads, scenarios/twin/tnbc-regimens.toml (the HER2+
# case: scenarios/twin/her2-regimens.toml).
# Builds the study binary if needed (release preset) and prints one line per patient and the
# totals ("TWIN STUDY: ..."). About 15-20 s per patient at 300 particles on 2 threads.
set -eu
cd "$(dirname "$0")/.."
cmake --build --preset release --target nkscape_twin_study_tests -j2 >/dev/null
NKSCAPE_TWIN_REGIMENS="${4:-scenarios/twin/tnbc-regimens.toml}" NKSCAPE_TWIN_PATIENTS="${1:-40}" NKSCAPE_TWIN_PARTICLES="${2:-300}" NKSCAPE_TWIN_THREADS="${3:-2}" NKSCAPE_TWIN_VERBOSE=1 \
  build/release/tests/nkscape_twin_study_tests
