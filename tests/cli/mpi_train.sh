#!/usr/bin/env bash
# Data-parallel training: `mpirun -np 2 bitsim train` splits each global batch over the two ranks
# (one micro-batch each) and gathers the gradients in rank order, so its weights equal, bit for bit,
# those of one process training the same global batch as 2 micro-batches (train.micro_batches = 2):
# for fp32 and for the 8-bit scheme of Banner et al. (stochastic rounding, range quantizers with
# running estimates, Range BN), with an exact and a bf16 all-reduce, and across a stop and resume.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
if ! command -v mpirun >/dev/null; then
  fail "mpirun not found (scripts/install-deps.sh installs openmpi-bin and libopenmpi-dev)"
  finish
  exit 1
fi
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2)
SHRINK=(--set model.width=8 --set data.limit_train=640 --set data.limit_test=200 --set data.batch=64 --set train.epochs=1
        --no-progress --quiet --threads 1)

for cfg in fp32/cnn_fashion_mnist banner2018/cnn_q8_rangebn_bif; do
  for ar in "" bf16; do
    name=$(basename "$cfg")${ar:+-$ar}
    SET=()
    [ -n "$ar" ] && SET=(--set "train.allreduce=$ar")
    "$BITSIM" train "experiments/$cfg.toml" "${SHRINK[@]}" "${SET[@]}" --set train.micro_batches=2 --set run.dir="$TMP/$name-1p" \
      >"$TMP/$name-1p.log" 2>&1 || fail "$name: one process failed: $(tail -2 "$TMP/$name-1p.log")"
    RC=0
    "${MPI[@]}" "$BITSIM" train "experiments/$cfg.toml" "${SHRINK[@]}" "${SET[@]}" --set run.dir="$TMP/$name-2r" \
      >"$TMP/$name-2r.log" 2>&1 || RC=$?
    check "$name: mpirun -np 2 exits 0 ($(tail -2 "$TMP/$name-2r.log"))" test "$RC" -eq 0
    check "$name: 2 ranks = 1 process with 2 micro-batches, bit for bit" test -n "$(digest "$TMP/$name-1p")" -a \
      "$(digest "$TMP/$name-1p")" = "$(digest "$TMP/$name-2r")"
    check "$name: the same metrics (but the timing columns)" \
      cmp -s <(cut -d, -f1-7 "$TMP/$name-1p/metrics.csv") <(cut -d, -f1-7 "$TMP/$name-2r/metrics.csv")
  done
  base=$(basename "$cfg")
  check "$base: the bf16 all-reduce changes the result" test "$(digest "$TMP/$base-2r")" != "$(digest "$TMP/$base-bf16-2r")"
done

# Stopped after 3 steps and resumed, on 2 ranks: the uninterrupted result.
"${MPI[@]}" "$BITSIM" train experiments/banner2018/cnn_q8_rangebn_bif.toml "${SHRINK[@]}" --set train.stop_after_steps=3 \
  --set run.dir="$TMP/resumed" >"$TMP/stop.log" 2>&1 || fail "stop after 3 steps failed: $(tail -2 "$TMP/stop.log")"
RC=0
"${MPI[@]}" "$BITSIM" train experiments/banner2018/cnn_q8_rangebn_bif.toml "${SHRINK[@]}" \
  --set run.dir="$TMP/resumed" --resume >"$TMP/resume.log" 2>&1 || RC=$?
check "2 ranks: resume exits 0 ($(tail -2 "$TMP/resume.log"))" test "$RC" -eq 0
check "2 ranks: stop and resume = uninterrupted" test "$(digest "$TMP/resumed")" = "$(digest "$TMP/cnn_q8_rangebn_bif-2r")"

# micro_batches must match the ranks.
RC=0
"${MPI[@]}" "$BITSIM" train experiments/fp32/cnn_fashion_mnist.toml "${SHRINK[@]}" --set train.micro_batches=3 \
  --set run.dir="$TMP/bad" >"$TMP/bad.log" 2>&1 || RC=$?
check "micro_batches = 3 on 2 ranks: refused" test "$RC" -ne 0
check "micro_batches = 3 on 2 ranks: says why" grep -q "train.micro_batches = 3 but 2 ranks" "$TMP/bad.log"
finish
