#!/usr/bin/env bash
# Statistics to HDF5 from the command line (docs/hdf5-schema.md): a small 8-bit (Banner et al.) run
# writes stats.h5; `bitsim stats` summarizes it, exports CSV and compares it with an fp32 run; bad
# inputs are refused by name. Then the crash test: a run logging every step is killed with SIGKILL at
# a random moment; the file it leaves opens with h5dump and h5py and holds every step committed before
# the kill, equal to the same steps of an uninterrupted run; resuming that run from its last checkpoint
# completes the file, equal step for step to the uninterrupted run's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
SHRINK=(--set model.width=8 --set data.limit_train=512 --set data.limit_test=100 --set data.batch=64 --set train.epochs=1
        --no-progress --threads 2)

# ---- a logged 8-bit run and an fp32 one --------------------------------------------------------
RC=0
"$BITSIM" train "$ROOT/experiments/banner2018/cnn_q8_rangebn_bif.toml" "${SHRINK[@]}" --set run.dir="$TMP/q8" \
  --set stats.every=2 >"$TMP/q8.log" 2>&1 || RC=$?
check "8-bit run with [stats] exits 0 ($(tail -2 "$TMP/q8.log"))" test "$RC" -eq 0
check "it reports the statistics file" grep -q "statistics: 4 steps logged to $TMP/q8/stats.h5" "$TMP/q8.log"
check "no partial file is left" test ! -e "$TMP/q8/stats.h5.partial"
check "h5dump reads the file" h5dump -H "$TMP/q8/stats.h5" >/dev/null
check "schema attribute" bash -c "h5dump -a /schema '$TMP/q8/stats.h5' | grep -q '\"bitsim-stats\"'"
RC=0
"$BITSIM" train "$ROOT/experiments/banner2018/cnn_fp32_bn.toml" "${SHRINK[@]}" --set run.dir="$TMP/fp32" \
  --set stats.every=2 >"$TMP/fp32.log" 2>&1 || RC=$?
check "fp32 run with [stats] exits 0" test "$RC" -eq 0

# ---- bitsim stats ------------------------------------------------------------------------------
run "" stats "$TMP/q8/stats.h5"
check "stats: exit 0 ($ERR)" test "$RC" -eq 0
check "stats: the last logged step (6) by default" grep -q "step 6 (4 steps logged" <<<"$OUT"
for site in 'conv1 +W\.weight +range\(bits=8\) ' 'conv2 +DY +range\(bits=8\) sr ' 'conv2 +DY_W +range\(bits=16\) sr ' \
            'bn1 +BN_NORM +fp32 ' 'fc1 +G\.weight +fp32 '; do
  check "stats: a row matching '$site'" grep -Eq "^$site" <<<"$OUT"
done
run "" stats "$TMP/q8/stats.h5" --steps
check "stats --steps: steps 0 2 4 6" test "$(awk 'NR>1 {print $1}' <<<"$OUT" | tr '\n' ' ')" = "0 2 4 6 "
run "" stats "$TMP/q8/stats.h5" --step 2 --role E --layer 'conv*'
check "stats --role E --layer conv*: conv2, conv3, conv4 (conv1 has no input gradient)" \
  test "$(grep -E '^conv[0-9]' <<<"$OUT" | awk '{print $1 "/" $2}' | tr '\n' ' ')" = "conv2/E conv3/E conv4/E "
run "" stats "$TMP/q8/stats.h5" --csv "$TMP/q8.csv"
check "stats --csv: exit 0" test "$RC" -eq 0
SITES=$(h5ls -r "$TMP/q8/stats.h5" | grep -c '/stats *Dataset')
check "stats --csv: a header and one line per site ($SITES)" test "$(wc -l <"$TMP/q8.csv")" -eq $((SITES + 1))
check "stats --csv: header names the fields" grep -q '^layer,site,role,tensor,quantizer,format,step,count,before_finite' "$TMP/q8.csv"
# The whole run in long form: one CSV row per logged step and site (4 steps), read by pandas.read_csv; the
# same numbers through the three h5py lines of docs/hdf5-schema.md ("Reading it with pandas").
run "" stats "$TMP/q8/stats.h5" --step all --csv "$TMP/all.csv"
check "stats --step all --csv: exit 0 ($ERR)" test "$RC" -eq 0
check "stats --step all --csv: a header and a line per site and logged step ($SITES x 4)" \
  test "$(wc -l <"$TMP/all.csv")" -eq $((4 * SITES + 1))
run "" stats "$TMP/q8/stats.h5" --step all
check "stats --step all without --csv: refused (exit $RC)" bash -c "[ $RC -eq 2 ] && grep -q -- '--step all' <<<'$ERR'"
lines=$(sed -n '/^## Reading it with pandas/,/^```$/p' "$ROOT/docs/hdf5-schema.md" | sed -n '/^```python$/,/^```$/p' | sed '1d;$d')
check "docs/hdf5-schema.md: the pandas section has its three lines" test "$(grep -c . <<<"$lines")" -eq 3
if "$PY" - "$TMP/q8/stats.h5" "$TMP/all.csv" >"$TMP/pandas.out" 2>&1 <<PYEOF
import sys
import pandas as pd
$(sed 's|"runs/NAME/stats.h5"|sys.argv[1]|' <<<"$lines")
csv = pd.read_csv(sys.argv[2], float_precision="round_trip")
assert len(df) == len(csv), (len(df), len(csv))
key = ["step", "layer", "site"]
a = df.sort_values(key).reset_index(drop=True)
b = csv.sort_values(key).reset_index(drop=True)
assert (a[key].values == b[key].values).all()
assert (a["role"].values == b["role"].values).all()
for col in ["count", "after_std", "before_absmax", "underflow", "snr_db"]:
    assert ((a[col] == b[col]) | (a[col].isna() & b[col].isna())).all(), col
print("rows", len(df))
PYEOF
then pass; else fail "pandas: the h5py lines and pandas.read_csv of --step all disagree: $(cat "$TMP/pandas.out")"; fi
# Outputs go to regular files only: a device or a FIFO is refused before anything is written, a link
# is followed (the file it points to is replaced; the link stays a link).
mkfifo "$TMP/fifo.csv"
run "" stats "$TMP/q8/stats.h5" --csv "$TMP/fifo.csv"
check "stats --csv to a FIFO: exit 2, named ($ERR)" bash -c "[ $RC -eq 2 ] && grep -q 'fifo.csv: is a FIFO' <<<'$ERR'"
check "stats --csv to a FIFO: still a FIFO" test -p "$TMP/fifo.csv"
run "" stats "$TMP/q8/stats.h5" --csv /dev/null
check "stats --csv to /dev/null: exit 2 ($ERR)" bash -c "[ $RC -eq 2 ] && grep -q '/dev/null: is a character device' <<<'$ERR'"
check "/dev/null is still a device" test -c /dev/null
mkdir -p "$TMP/real" && echo old >"$TMP/real/target.csv" && ln -s real/target.csv "$TMP/link.csv"
run "" stats "$TMP/q8/stats.h5" --csv "$TMP/link.csv"
check "stats --csv to a link: exit 0 ($ERR)" test "$RC" -eq 0
check "stats --csv to a link: the link stays a link" test -L "$TMP/link.csv"
check "stats --csv to a link: the file it points to holds the CSV" cmp -s "$TMP/real/target.csv" "$TMP/q8.csv"
run "" stats --compare --role E "$TMP/fp32/stats.h5" "$TMP/q8/stats.h5"
check "stats --compare: exit 0 ($ERR)" test "$RC" -eq 0
check "stats --compare: a row per common E site" test "$(grep -Ec '^(bn1|relu1|conv2|bn2|relu2|pool1|conv3|bn3|relu3|conv4|bn4|relu4|pool2|flatten1|fc1) ' <<<"$OUT")" -ge 10
run "" stats "$TMP/q8/stats.h5" --step 3
check "stats --step 3 (not logged): exit 2" test "$RC" -eq 2
check "stats --step 3: says which steps were logged" grep -q "step 3 was not logged (logged: 0, 2, 4, 6)" <<<"$ERR"
echo "plain text" >"$TMP/text.h5"
run "" stats "$TMP/text.h5"
check "stats on a text file: exit 2" test "$RC" -eq 2
check "stats on a text file: names it" grep -q "text.h5: not an HDF5 file" <<<"$ERR"
run "" stats "$TMP/missing.h5"
check "stats on a missing file: exit 2, named" bash -c "[ $RC -eq 2 ] && grep -q 'missing.h5: cannot open: no such file' <<<'$ERR'"
run "" stats "$TMP/q8/stats.h5" --csv "$TMP/nodir/out.csv"
check "stats --csv into a missing folder: exit 2" test "$RC" -eq 2
check "stats --csv into a missing folder: no file" test ! -e "$TMP/nodir/out.csv"
run "" train "$ROOT/experiments/banner2018/cnn_q8_rangebn_bif.toml" --set stats.roles='["X"]'
check "train with an unknown stats role: exit 2" test "$RC" -eq 2
check "train with an unknown stats role: names the key" grep -q "stats.roles.*unknown role 'X'" <<<"$ERR"

# ---- SIGKILL at a random moment ------------------------------------------------------------------
KILLCFG=(--set model.width=8 --set data.limit_train=1280 --set data.limit_test=100 --set data.batch=64 --set train.epochs=1
         --set stats.every=1 --set train.checkpoint_every_steps=2 --no-progress --threads 2)
"$BITSIM" train "$ROOT/experiments/banner2018/cnn_q8_rangebn_bif.toml" "${KILLCFG[@]}" --set run.dir="$TMP/killed" \
  >"$TMP/killed.log" 2>&1 &
PID=$!
SEEN=0
for _ in $(seq 1 600); do  # until at least 3 steps are committed (a reader may meet a half-flushed file: retry)
  if [ -e "$TMP/killed/stats.h5" ]; then
    SEEN=$(committed_steps "$TMP/killed/stats.h5")
    [ "$SEEN" -ge 3 ] && break
  fi
  sleep 0.1
done
sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
kill -9 "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
# A kill inside a flush leaves the flush to a helper process, which finishes it (docs/hdf5-schema.md).
check "after SIGKILL: no process holds the file once a flush in progress has finished" wait_unheld "$TMP/killed/stats.h5"
check "the killed run had committed at least 3 steps" test "$SEEN" -ge 3
check "after SIGKILL: h5dump opens the file" h5dump -H "$TMP/killed/stats.h5" >/dev/null
N=$($PY - "$TMP/killed/stats.h5" <<'PYEOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    steps = [int(s) for s in f["steps"]["step"]]
    # The committed steps: the rows while `step` increases (a kill inside a flush can leave one
    # more row reading as zeros; docs/hdf5-schema.md).
    n = next((i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]), len(steps))
    steps = steps[:n]
    assert steps == list(range(len(steps))), steps
    for layer in f["layers"].values():
        for site in layer.values():
            rows = [int(s) for s in site["stats"]["step"]]
            assert rows[:len(steps)] == steps, (site.name, rows, steps)
            assert site["hist_after"].shape[0] >= len(steps)
    print(len(steps))
PYEOF
) || N=0
check "after SIGKILL: h5py opens it; every site holds every committed step ($N >= $SEEN)" test "$N" -ge "$SEEN"
"$BITSIM" train "$ROOT/experiments/banner2018/cnn_q8_rangebn_bif.toml" "${KILLCFG[@]}" --set run.dir="$TMP/whole" \
  >"$TMP/whole.log" 2>&1
same_steps() {  # same_steps A B S...: the CSV of every site at each step S is the same in both files
  local s
  for s in "${@:3}"; do
    cmp -s <("$BITSIM" stats "$1" --step "$s" --csv -) <("$BITSIM" stats "$2" --step "$s" --csv -) || return 1
  done
}
check "the killed file's $N steps equal the uninterrupted run's" same_steps "$TMP/killed/stats.h5" "$TMP/whole/stats.h5" $(seq 0 $((N - 1)))
RC=0
"$BITSIM" train "$ROOT/experiments/banner2018/cnn_q8_rangebn_bif.toml" "${KILLCFG[@]}" --set run.dir="$TMP/killed" --resume \
  >"$TMP/resume.log" 2>&1 || RC=$?
check "the killed run resumes ($(tail -1 "$TMP/resume.log"))" test "$RC" -eq 0
check "resumed: the same final weights" test "$(grep digest "$TMP/killed/result.json")" = "$(grep digest "$TMP/whole/result.json")"
check "resumed: all 20 steps equal the uninterrupted run's" same_steps "$TMP/killed/stats.h5" "$TMP/whole/stats.h5" $(seq 0 19)
run "" stats "$TMP/killed/stats.h5" --steps
check "resumed: 20 steps, none twice" test "$(awk 'NR>1 {print $1}' <<<"$OUT" | tr '\n' ' ')" = "$(seq 0 19 | tr '\n' ' ')"
finish
