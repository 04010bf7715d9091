#!/usr/bin/env bash
# Compiles the SIMD kernel files for aarch64 (NEON), with Debian's cross compiler, to object code:
# the kernels are Highway per-target code and must build on Arm, though no test here can run them.
# Exit status 77 (CTest: skipped) when g++-aarch64-linux-gnu or Highway's headers are missing.
#   aarch64_kernels.sh DEFINITION   (the -D... CMake gives every file on aarch64)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AARCH64_DEFINITION=${1:?usage: aarch64_kernels.sh -DHWY_DISABLED_TARGETS=...}
CXX=aarch64-linux-gnu-g++
command -v "$CXX" >/dev/null || { echo "aarch64_kernels: $CXX not installed (package g++-aarch64-linux-gnu): skipped"; exit 77; }
[ -d /usr/include/hwy ] || { echo "aarch64_kernels: Highway headers missing (libhwy-dev): skipped"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Highway's headers are the same for every architecture; copied alone, so that the cross compiler
# does not see the host's other headers in /usr/include.
mkdir -p "$TMP/include" && cp -r /usr/include/hwy "$TMP/include/"
status=0
for f in formats/cpu_check.cpp formats/simd_target.cpp formats/quantize_loops.cpp formats/philox_fill.cpp sim/kernels/panel_gemm.cpp sim/kernels/gemm_fp32_kernel.cpp; do
  # As CMake builds them on aarch64: -march left to the compiler, the same definition.
  if "$CXX" -std=c++20 -O2 -Wall -Wextra -Werror -ffp-contract=off -c -o "$TMP/out.o" \
      -DBITSIM_BUILD_MARCH='""' "$AARCH64_DEFINITION" \
      -I"$TMP/include" -I"$ROOT" "$ROOT/$f" 2>"$TMP/err"; then
    echo "aarch64_kernels: $f: compiled"
  else
    echo "aarch64_kernels: $f: FAILED"; head -20 "$TMP/err"; status=1
  fi
done
exit $status
