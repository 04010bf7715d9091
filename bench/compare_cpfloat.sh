#!/usr/bin/env bash
# Rounds float arrays with bitsim and with CPFloat side by side (bench/bench_vs_cpfloat.cpp says how).
# CPFloat and its random generator (pcg-c) are fetched into a temporary folder and built there with a
# temporary build of this project's benchmark; nothing is kept or committed.
#
#   bench/compare_cpfloat.sh [bench_vs_cpfloat options...]
#
# Runs the comparison twice on x86-64: bitsim's AVX2 kernels (BITSIM_SIMD=avx2) against CPFloat built
# for x86-64-v3, then bitsim's best target against CPFloat built for -march=native (the same pair on
# an AVX2-only CPU). Local copies instead of cloning: CPFLOAT_SRC=dir PCG_SRC=dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fetch() {  # fetch NAME URL LOCAL_COPY
  if [ -n "$3" ]; then
    [ -d "$3" ] || { echo "compare_cpfloat: $1 source '$3' is not a directory" >&2; exit 2; }
    cp -r "$3" "$TMP/$1"
  else
    git clone -q --depth 1 "$2" "$TMP/$1" || { echo "compare_cpfloat: cannot clone $2 (set ${1^^}_SRC to a local copy)" >&2; exit 2; }
  fi
  echo "compare_cpfloat: $1 $(git -C "$TMP/$1" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
}
fetch cpfloat https://github.com/north-numerical-computing/cpfloat "${CPFLOAT_SRC:-}"
fetch pcg https://github.com/imneme/pcg-c "${PCG_SRC:-}"
cmake -S "$ROOT" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release -DBITSIM_BUILD_TESTS=OFF \
  -DBITSIM_CPFLOAT_DIR="$TMP/cpfloat" -DBITSIM_PCG_DIR="$TMP/pcg" >"$TMP/configure.log" 2>&1 \
  || { cat "$TMP/configure.log"; exit 1; }
cmake --build "$TMP/build" --target bench_vs_cpfloat -j "$(nproc)" >"$TMP/build.log" 2>&1 || { tail -40 "$TMP/build.log"; exit 1; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
BITSIM_SIMD=avx2 "$TMP/build/bench/bench_vs_cpfloat" --cpfloat x86-64-v3 "$@"
echo
"$TMP/build/bench/bench_vs_cpfloat" --cpfloat native "$@"
