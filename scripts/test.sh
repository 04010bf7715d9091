#!/usr/bin/env bash
# Quick start, second command: installs what is missing, builds, and runs every test (CTest + Catch2).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
