#!/bin/sh
# The twin's longer validation study (docs/twin.md, "Validation"): synthetic patients drawn from
# the shipped TNBC population with known parameters, the twin run on each, then the coverage of
# its 90 % credible intervals and how often it ranks the true best regimen first.
#
#   scripts/twin-study.sh [PATIENTS] [PARTICLES] [THREADS]     (defaults 40, 300, 2)
#
# Builds the study binary if needed (release preset) and prints one line per patient and the
# totals ("TWIN STUDY: ..."). About 15-20 s per patient at 300 particles on 2 threads.
set -eu
cd "$(dirname "$0")/.."
cmake --build --preset release --target nkscape_twin_study_tests -j2 >/dev/null
NKSCAPE_TWIN_PATIENTS="${1:-40}" NKSCAPE_TWIN_PARTICLES="${2:-300}" NKSCAPE_TWIN_THREADS="${3:-2}" NKSCAPE_TWIN_VERBOSE=1 \
  build/release/tests/nkscape_twin_study_tests
