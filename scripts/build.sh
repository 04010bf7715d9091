#!/usr/bin/env bash
# Configures and builds bitsim in ./build (Release). `--target T` (repeatable) builds only T and what it
# needs (scripts/run.sh builds only the bitsim program); other arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
configure=()
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --target)
      targets+=(--target "${2:?--target needs a target name}")
      shift 2
      ;;
    *)
      configure+=("$1")
      shift
      ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${configure[@]}" >/dev/null
cmake --build build -j "$jobs" "${targets[@]}"
