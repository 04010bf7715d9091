#!/usr/bin/env bash
# Gradient and tensor statistics of the 8-bit scheme of Banner et al. 2018 against its fp32 baseline,
# on the small CNN and Fashion-MNIST: both runs log every rounding site to HDF5 (stats.every), then
# `bitsim stats` tables and the notebooks' figures are written to OUT. A run folder that already holds
# result.json is not trained again (delete it to rerun). See README.md in this folder.
#
#   experiments/gradient_stats/run.sh [--bitsim PATH] [--epochs N] [--every N] [--runs DIR] [--out DIR]
#                                     [--set key=value ...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BITSIM=$ROOT/build/bitsim
EPOCHS=2
EVERY=20
RUNS=$ROOT/runs
OUT=$ROOT/experiments/gradient_stats/results
SETS=()
while [ $# -gt 0 ]; do
  case $1 in
    --bitsim) BITSIM=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    *) echo "run.sh: unknown argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
[ -x "$BITSIM" ] || { echo "run.sh: no bitsim executable at $BITSIM (build it, or pass --bitsim)" >&2; exit 2; }

train() {  # train NAME CONFIG: one thread each, the two runs side by side on two cores
  local dir=$RUNS/stats_$1
  if [ -e "$dir/result.json" ]; then echo "run.sh: $dir is complete, not trained again"; return 0; fi
  "$BITSIM" train "$ROOT/experiments/$2" --set train.epochs="$EPOCHS" --set stats.every="$EVERY" --set run.dir="$dir" \
    "${SETS[@]}" --threads 1 --no-progress --overwrite >"$RUNS/stats_$1.log" 2>&1
}
mkdir -p "$RUNS"
train fp32 fp32/cnn_fashion_mnist.toml &
P1=$!
train q8 banner2018/cnn_q8_rangebn_bif.toml &
P2=$!
RC=0
wait $P1 || RC=$?
wait $P2 || RC=$?
[ "$RC" -eq 0 ] || { echo "run.sh: a training run failed (logs: $RUNS/stats_*.log)" >&2; exit 1; }

TMPOUT=$(mktemp -d "$(dirname "$OUT")/.gradient_stats.XXXXXX")
trap 'rm -rf "$TMPOUT"' EXIT
A=$RUNS/stats_fp32/stats.h5
B=$RUNS/stats_q8/stats.h5
"$BITSIM" stats "$B" >"$TMPOUT/summary_q8.txt"
"$BITSIM" stats "$B" --csv "$TMPOUT/summary_q8.csv" >/dev/null
"$BITSIM" stats "$A" >"$TMPOUT/summary_fp32.txt"
"$BITSIM" stats --compare "$A" "$B" --role E >"$TMPOUT/compare_E.txt"
"$BITSIM" stats --compare "$A" "$B" --role G >"$TMPOUT/compare_G.txt"
"$BITSIM" stats --compare "$A" "$B" --role A >"$TMPOUT/compare_A.txt"
"$ROOT/scripts/render-notebooks.sh" "$B" "$TMPOUT/figures" "$A" >/dev/null
rm -f "$TMPOUT"/figures/*.ipynb  # the executed notebooks are large; the figures are what is kept
rm -rf "$OUT"
mv "$TMPOUT" "$OUT"
trap - EXIT
echo "run.sh: tables and figures in $OUT"
ls "$OUT" "$OUT/figures"
