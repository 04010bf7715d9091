#!/usr/bin/env bash
# bitsim sweep end to end: a sweep of 12 runs (a grid of 2 weight formats x 2 learning rates, 3
# seeds, a small MLP logging statistics) is killed with SIGKILL (the sweep and its trainings, as a
# crash or a lost node would) once some runs have finished; the same command resumes it without
# training any finished run again (their result.json files are untouched), and writes the table of
# all 12; `bitsim report` renders its HTML page, which headless Chromium loads with every figure.
# Then SIGTERM: the sweep stops its trainings, exits 130, and the next command completes it; and
# bad sweep files are refused by name.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

cat >"$TMP/sweep.toml" <<EOF2
title = "tiny MLP: weight format x learning rate"
seeds = [1, 2, 3]
out = "$TMP/table"
runs_root = "$TMP/runs"
base = "experiments/fp32/mlp_fashion_mnist.toml"
set = ["model.width=64", "data.limit_train=4096", "data.limit_test=500", "data.batch=64", "train.epochs=3", "stats.every=32"]
reference_row = "W=fp32-lr=0.05"
workers = 2

[grid]
"formats.W" = ["fp32", "fp8_e4m3"]
"optimizer.lr" = [0.05, 0.1]
EOF2

count_results() { find "$TMP/runs" -name result.json 2>/dev/null | wc -l; }
setsid "$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/first.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  [ "$(count_results)" -ge 4 ] && break
  sleep 0.05
done
kill -9 -- "-$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
sleep 0.2
DONE=$(count_results)
check "the killed sweep had finished some runs but not all ($DONE of 12)" test "$DONE" -ge 4 -a "$DONE" -lt 12
find "$TMP/runs" -name result.json -exec stat -c '%n %i %Y' {} + | sort >"$TMP/before.txt"
RC=0
"$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/second.log" 2>&1 || RC=$?
check "the resumed sweep exits 0 ($(tail -3 "$TMP/second.log"))" test "$RC" -eq 0
check "it skips exactly the $DONE finished runs" test "$(grep -c ': skipped, ' "$TMP/second.log")" -eq "$DONE"
check "it trains the other $((12 - DONE))" test "$(grep -c ': done, test accuracy' "$TMP/second.log")" -eq $((12 - DONE))
find "$TMP/runs" -name result.json -exec stat -c '%n %i %Y' {} + | sort >"$TMP/after.txt"
check "finished runs' result.json untouched (same inode and time)" bash -c "comm -23 '$TMP/before.txt' '$TMP/after.txt' | wc -l | grep -qx 0"
check "12 results in all" test "$(count_results)" -eq 12
check "table.md: 4 rows of 3 runs" test "$(grep -Ec '^\| W=(fp32|fp8_e4m3), lr=0\.(05|1) \| 3 \| ' "$TMP/table/table.md")" -eq 4
check "table.md: the reference row" grep -q '^| W=fp32, lr=0.05 | 3 | [0-9.]* ± [0-9.]* | [0-9.]*–[0-9.]* | reference |' "$TMP/table/table.md"
check "table.csv: header and 4 rows" test "$(wc -l <"$TMP/table/table.csv")" -eq 5
check "table.csv: per-seed errors of row 1" grep -q '^W=fp32-lr=0.05,"W=fp32, lr=0.05",3,.*,s1=[0-9.]* s2=[0-9.]* s3=[0-9.]*,$' "$TMP/table/table.csv"
# The same results as one uninterrupted run of each: a resumed or restarted run is bit-identical.
R=$(digest "$TMP/runs/W=fp8_e4m3-lr=0.1/seed3")
"$BITSIM" train experiments/fp32/mlp_fashion_mnist.toml --set seed=3 --set run.dir="$TMP/alone" --set 'formats.W="fp8_e4m3"' \
  --set optimizer.lr=0.1 --set model.width=64 --set data.limit_train=4096 --set data.limit_test=500 --set data.batch=64 \
  --set train.epochs=3 --set stats.every=32 --no-progress --quiet --threads 1
check "a sweep run equals the same training run alone (weights digest)" \
  test "$R" = "$(digest "$TMP/alone")"

# The HTML report: table, accuracy curves, final errors, and the statistics figures (E and G).
RC=0
"$BITSIM" report "$TMP/table" >"$TMP/report.log" 2>&1 || RC=$?
check "report: exit 0 ($(tail -2 "$TMP/report.log"))" test "$RC" -eq 0
check "report: 4 figures" grep -q "report.html (4 figures)" "$TMP/report.log"
check "report: the table's 4 rows" test "$(grep -c '<tr><td>W=' "$TMP/table/report.html")" -eq 4
CHROME=$(command -v chromium-headless-shell || command -v chromium || true)
if [ -n "$CHROME" ]; then
  "$CHROME" --no-sandbox --disable-gpu --virtual-time-budget=10000 --dump-dom "file://$TMP/table/report.html" \
    >"$TMP/dom.html" 2>/dev/null || true
  check "Chromium: the page loaded" grep -q 'data-report-ready="yes"' "$TMP/dom.html"
  check "Chromium: 4 figures decoded" test "$(grep -o 'data-loaded="yes"' "$TMP/dom.html" | wc -l)" -eq 4
  check "Chromium: no broken figure" bash -c "! grep -q 'data-loaded=\"no\"' '$TMP/dom.html'"
else
  fail "no headless Chromium (scripts/install-deps.sh installs chromium-headless-shell)"
fi
run "" report "$TMP/runs"
check "report on a folder that is not a sweep's: exit 2" test "$RC" -eq 2
check "report on a folder that is not a sweep's: says so" grep -q "not the output folder of a sweep" <<<"$ERR"

# SIGTERM: stop, exit 130, resume later.
rm -rf "$TMP/runs" "$TMP/table"
"$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/term.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  [ "$(count_results)" -ge 2 ] && break
  sleep 0.05
done
kill -TERM "$PID"
RC=0
wait "$PID" || RC=$?
check "SIGTERM: the sweep exits 130" test "$RC" -eq 130
check "SIGTERM: it says how to resume" grep -q "run the same command to resume" "$TMP/term.log"
sleep 0.2
check "SIGTERM: no training is left running" bash -c "! ps -eo args | grep -q '[b]itsim train .*$TMP/runs'"
RC=0
"$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/term2.log" 2>&1 || RC=$?
check "after SIGTERM: the next sweep completes" test "$RC" -eq 0 -a "$(count_results)" -eq 12

# Bad input.
run "" sweep "$TMP/missing.toml"
check "missing sweep file: exit 2" test "$RC" -eq 2
check "missing sweep file: named" grep -q 'missing.toml: cannot open' <<<"$ERR"
printf 'seeds = [1]\nout = "o"\nruns_root = "r"\nbase = "nowhere.toml"\n' >"$TMP/nocfg.toml"
run "" sweep "$TMP/nocfg.toml"
check "missing config: exit 2 before anything runs" test "$RC" -eq 2
check "missing config: named" grep -qE "row 'base': config file .*nowhere.toml: cannot open" <<<"$ERR"
run "" sweep "$TMP/sweep.toml" --only nosuchrow
check "--only with an unknown row: exit 2" test "$RC" -eq 2
check "--only with an unknown row: lists the rows" grep -q "unknown row id 'nosuchrow' (rows: W=fp32-lr=0.05" <<<"$ERR"
finish
