#!/usr/bin/env bash
# Quick start, second command: installs what is missing, builds, and runs every test (CTest + Catch2),
# then the reliability stage (docs/RELIABILITY.md): the fast tests again in a clang build with
# AddressSanitizer + UndefinedBehaviorSanitizer, and each fuzz target for a few seconds.
# BITSIM_SKIP_SANITIZE=1 skips that stage (a quicker local check; CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
./scripts/install-deps.sh
./scripts/build.sh
# Tests labelled "full" (the complete versions of sampled checks) run with `ctest -L full` by hand.
(cd build && ctest --output-on-failure -j "$jobs" -LE full "$@")
if [ "${BITSIM_SKIP_SANITIZE:-0}" = 1 ]; then
  echo "test.sh: sanitizer and fuzzing stage skipped (BITSIM_SKIP_SANITIZE=1)"
  exit 0
fi
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j "$jobs"
ctest --preset sanitize -j "$jobs" -LE full "$@"
