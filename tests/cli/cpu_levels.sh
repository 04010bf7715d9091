#!/usr/bin/env bash
# The binary on CPUs other than this one, emulated by qemu-user (its TCG has AVX2 but no AVX-512):
# - on a CPU below x86-64-v3 (Nehalem) it refuses to start, naming the missing instructions, with
#   exit status 2 and no SIGILL;
# - on an AVX2-only CPU (Haswell) it runs its AVX2 kernels and gives the same bits as on this machine:
#   quantized arrays (float and fixed formats, rne and sr), an fp32-accumulated GEMM (the engine's
#   fp32 kernel) and a short training run's weights digest.
# Skipped (77) where qemu-x86_64 (package qemu-user) is missing or the machine is not x86-64.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(uname -m)" = x86_64 ] || { echo "cpu_levels: not an x86-64 machine: skipped"; exit 77; }
command -v qemu-x86_64 >/dev/null || { echo "cpu_levels: qemu-x86_64 not installed (package qemu-user): skipped"; exit 77; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
old_cpu() { qemu-x86_64 -cpu Nehalem "$@" 2>"$TMP/err"; }
avx2_cpu() { qemu-x86_64 -cpu Haswell "$@" 2>"$TMP/qemu_err"; }

# 1. Below x86-64-v3: a clear refusal before anything runs.
for cmd in "--version" "formats list"; do
  rc=0
  old_cpu "$BITSIM" $cmd >"$TMP/out" || rc=$?
  [ "$rc" = 2 ] && pass || fail "Nehalem: bitsim $cmd: exit status $rc, expected 2"
  grep -q "this CPU lacks instructions" "$TMP/err" && pass || fail "Nehalem: bitsim $cmd: no message: $(head -3 "$TMP/err")"
  grep -q "avx2" "$TMP/err" && grep -q "x86-64-v3" "$TMP/err" && pass || fail "Nehalem: the message names neither avx2 nor x86-64-v3"
  if [ -s "$TMP/out" ]; then fail "Nehalem: bitsim $cmd wrote to stdout"; else pass; fi
done

# 2. An AVX2-only CPU: the AVX2 kernels, and the same bits as this machine's best kernels.
avx2_cpu "$BITSIM" --version >"$TMP/version" && pass || fail "Haswell: bitsim --version failed"
grep -q "SIMD kernels: avx2 (this CPU and build have: avx2;" "$TMP/version" && pass || fail "Haswell: not on AVX2 alone: $(cat "$TMP/version")"

python3 - "$TMP/values" <<'PY'
import random, struct, sys
random.seed(7)
vals = ["0", "-0", "inf", "-inf", "1e-45", "-1e-40", "3e38", "448", "464", "0.0009765625"]
for _ in range(3000):
    # doubles exactly representable as floats, over a wide range of magnitudes
    x = struct.unpack("f", struct.pack("f", random.gauss(0, 1) * 2.0 ** random.randint(-30, 30)))[0]
    vals.append(repr(x))
open(sys.argv[1], "w").write("\n".join(vals) + "\n")
PY
for args in "--format fp8_e4m3" "--format bf16" "--format fp16 --rounding sr --seed 5" "--format int8 --rounding sr --seed 3" \
            "--format graham_L4"; do
  "$BITSIM" quantize $args <"$TMP/values" >"$TMP/native" 2>"$TMP/native_err" && pass || fail "quantize $args failed: $(cat "$TMP/native_err")"
  avx2_cpu "$BITSIM" quantize $args <"$TMP/values" >"$TMP/emulated" && pass || fail "quantize $args failed on Haswell"
  [ "$(wc -l <"$TMP/native")" -gt 3000 ] && pass || fail "quantize $args: output too short"
  cmp -s "$TMP/native" "$TMP/emulated" && pass || fail "quantize $args: Haswell output differs from this machine's"
done

python3 - "$TMP/a" "$TMP/b" <<'PY'
import random, sys
random.seed(9)
def mat(rows, cols):
    return "\n".join(" ".join(repr(random.gauss(0, 1) * 2.0 ** random.randint(-8, 8)) for _ in range(cols)) for _ in range(rows)) + "\n"
open(sys.argv[1], "w").write(mat(37, 70))
open(sys.argv[2], "w").write(mat(70, 45))
PY
gemm=(gemm --a "$TMP/a" --b "$TMP/b" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32)
"$BITSIM" "${gemm[@]}" >"$TMP/native" && pass || fail "gemm failed on this machine"
avx2_cpu "$BITSIM" "${gemm[@]}" >"$TMP/emulated" && pass || fail "gemm failed on Haswell"
cmp -s "$TMP/native" "$TMP/emulated" && pass || fail "gemm: Haswell output differs from this machine's"

# A short training run (fp32 CNN, 64 images): the same weights digest.
train=(train "$ROOT/experiments/fp32/cnn_fashion_mnist.toml" --set data.limit_train=64 --set data.limit_test=32 --set data.batch=32
       --set train.epochs=1 --set stats.every=0 --no-progress --quiet)
"$BITSIM" "${train[@]}" --set run.dir="\"$TMP/native_run\"" >/dev/null 2>"$TMP/train_err" && pass || fail "training failed on this machine: $(tail -2 "$TMP/train_err")"
avx2_cpu "$BITSIM" "${train[@]}" --set run.dir="\"$TMP/emulated_run\"" >/dev/null 2>&1 && pass || fail "training failed on Haswell"
[ -n "$(digest "$TMP/native_run")" ] && pass || fail "no digest from the native run"
[ "$(digest "$TMP/native_run")" = "$(digest "$TMP/emulated_run")" ] && pass || fail "training: Haswell digest differs from this machine's"

finish
