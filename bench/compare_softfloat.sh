#!/usr/bin/env bash
# One operation at a time, bitsim against Berkeley SoftFloat 3e side by side (bench/bench_vs_softfloat.cpp
# says how). SoftFloat is fetched into a temporary folder and built there (its Linux-x86_64-GCC build,
# the 8086-SSE specialisation, -O2 as its makefile sets) together with a temporary build of this
# project's benchmark; nothing is kept or committed.
#
#   bench/compare_softfloat.sh [bench_vs_softfloat options...]
#
# A local copy instead of cloning: SOFTFLOAT_SRC=dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -n "${SOFTFLOAT_SRC:-}" ]; then
  [ -d "$SOFTFLOAT_SRC" ] || { echo "compare_softfloat: SOFTFLOAT_SRC '$SOFTFLOAT_SRC' is not a directory" >&2; exit 2; }
  cp -r "$SOFTFLOAT_SRC" "$TMP/softfloat"
else
  git clone -q --depth 1 https://github.com/ucb-bar/berkeley-softfloat-3 "$TMP/softfloat" \
    || { echo "compare_softfloat: cannot clone SoftFloat (set SOFTFLOAT_SRC to a local copy)" >&2; exit 2; }
fi
echo "compare_softfloat: SoftFloat $(git -C "$TMP/softfloat" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
make -C "$TMP/softfloat/build/Linux-x86_64-GCC" -j "$(nproc)" >"$TMP/softfloat.log" 2>&1 || { tail -40 "$TMP/softfloat.log"; exit 1; }
cmake -S "$ROOT" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release -DBITSIM_BUILD_TESTS=OFF \
  -DBITSIM_SOFTFLOAT_DIR="$TMP/softfloat" >"$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; exit 1; }
cmake --build "$TMP/build" --target bench_vs_softfloat -j "$(nproc)" >"$TMP/build.log" 2>&1 || { tail -40 "$TMP/build.log"; exit 1; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
LD_LIBRARY_PATH="$TMP/build/cabi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$TMP/build/bench/bench_vs_softfloat" "$@"
