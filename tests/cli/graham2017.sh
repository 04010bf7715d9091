#!/usr/bin/env bash
# The smoke versions of the Graham 2017 experiments (experiments/graham2017/README.md): Table 2 from
# `bitsim analyze quantizer` with few samples, and two widths of the MLP width sweep on a slice of
# Fashion-MNIST, trained by `bitsim sweep` and drawn by plot_width_sweep.py. The full experiments
# are the same commands without the shrinking options.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# Table 2: the exact N(0,1) rows do not depend on the sample size; the paper's L4 value is 0.981.
RC=0
python3 experiments/graham2017/table2.py --bitsim "$BITSIM" --samples 500 --repeats 3 --out "$TMP/t2" >"$TMP/t2.log" 2>&1 || RC=$?
check "table2.py exits 0 (log: $(tail -3 "$TMP/t2.log"))" test "$RC" -eq 0
check "table2.md written" test -s "$TMP/t2/table2.md"
check "L4 exact row: 0.981 / 1.000 beside the paper's" grep -q '^| L4 | 4 | N(0,1) exact | 0.981 | 1.000 |.*| 0.981 / 1.000 |$' "$TMP/t2/table2.md"
check "L2 exact row: 0.918" grep -q '^| L2 | 2 | N(0,1) exact | 0.918 | 1.000 |' "$TMP/t2/table2.md"
check "table2.csv: 8 formats x 2 distributions" test "$(tail -n +2 "$TMP/t2/table2.csv" | wc -l)" -eq 16
RC=0
python3 experiments/graham2017/table2.py --bitsim /nonexistent/bitsim --out "$TMP/t2bad" >"$TMP/t2bad.log" 2>&1 || RC=$?
check "table2.py without bitsim: exit 2" test "$RC" -eq 2
check "table2.py without bitsim: says so" grep -q 'no bitsim executable' "$TMP/t2bad.log"
check "table2.py without bitsim: nothing written" test ! -e "$TMP/t2bad/table2.md"

# The width sweep, two widths, fp32 and L4, one small epoch each.
SHRINK=(--set data.limit_train=500 --set data.limit_test=200 --set train.epochs=1)
RC=0
"$BITSIM" sweep experiments/graham2017/mlp_width_sweep.toml \
  --only fp32_w4,L4_w4,fp32_w8,L4_w8 --threads 2 --out "$TMP/sweep" --runs-root "$TMP/runs" "${SHRINK[@]}" \
  >"$TMP/sweep.log" 2>&1 || RC=$?
check "sweep runs exit 0 (log: $(tail -3 "$TMP/sweep.log"))" test "$RC" -eq 0
check "L4 run stores N(x) in 4 bits" grep -q 'N(x)-stored-4-bit' "$TMP/runs/L4_w8/seed1/model.txt"
check "fp32 run does not" bash -c "! grep -q 'N(x)-stored' '$TMP/runs/fp32_w8/seed1/model.txt'"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  RC=0
  /usr/bin/python3 experiments/graham2017/plot_width_sweep.py experiments/graham2017/mlp_width_sweep.toml \
    --runs-root "$TMP/runs" --out "$TMP/sweep" >"$TMP/plot.log" 2>&1 || RC=$?
  check "plot exits 0 (log: $(tail -3 "$TMP/plot.log"))" test "$RC" -eq 0
  check "PNG written" test -s "$TMP/sweep/width_sweep.png"
  # The CSV's delta is the L4 test accuracy minus fp32's at the same width, from the runs' result.json.
  want=$(python3 - "$TMP/runs" <<'PY'
import json, sys
acc = lambda r: 100 * json.load(open(f"{sys.argv[1]}/{r}/seed1/result.json"))["test_accuracy"]
print(f"{acc('L4_w8') - acc('fp32_w8'):.2f}")
PY
)
  check "width_sweep.csv: L4 width 8 delta = $want" grep -q "^L4,8,1,.*,$want\$" "$TMP/sweep/width_sweep.csv"
  # The Markdown table: the same change in the L4 column (width, fp32, L2, L3, L4) of width 8 (one seed:
  # never marked resolved).
  check "width_sweep.md: L4 width 8 = $want" \
    /usr/bin/python3 -c "import sys; r=[l for l in open('$TMP/sweep/width_sweep.md') if l.startswith('| 8 |')][0].split(' | '); sys.exit(float(r[4].rstrip('*')) != $want)"
  # Errors 10, 12, 14 against 11, 13, 15: pooled sd 2, 4 degrees of freedom, t(0.975, 4) = 2.776445
  # (tables): 2.776445 * 2 * sqrt(2/3) = 4.5339.
  check "width sweep: the resolvable difference of 3 against 3 seeds" test "$(/usr/bin/python3 -c "import sys; sys.path.insert(0, 'experiments/graham2017'); import plot_width_sweep as p; print(f'{p.resolvable([10, 12, 14], [11, 13, 15]):.4f}')")" = 4.5339
  RC=0
  /usr/bin/python3 experiments/graham2017/plot_width_sweep.py experiments/graham2017/mlp_width_sweep.toml \
    --runs-root "$TMP/empty" --out "$TMP/none" >"$TMP/plot2.log" 2>&1 || RC=$?
  check "plot with no runs: exit 2" test "$RC" -eq 2
else
  fail "python3-matplotlib is not installed (scripts/install-deps.sh installs it)"
fi
finish
