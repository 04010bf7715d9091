#!/usr/bin/env bash
# bitsim sweep end to end: a sweep of 12 runs (a grid of 2 weight formats x 2 learning rates, 3
# seeds, a small MLP logging statistics) is killed with SIGKILL (the sweep and its trainings, as a
# crash or a lost node would) once some runs have finished; the same command resumes it without
# training any finished run again (their result.json files are untouched), and writes the table of
# all 12; `bitsim report` renders its HTML page, which headless Chromium loads with every figure.
# Then SIGTERM: the sweep stops its trainings, exits 130, and the next command completes it; a long
# table committed to git mid-way continues from a clean clone with --resume; and bad sweep files are
# refused by name.
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

# reuse_from: a second sweep with one row identical to one of the first's (same config, seed and
# overrides) copies the finished runs of seeds 1 and 2 instead of training them, and trains seed 4.
cat >"$TMP/reuse.toml" <<EOF2
seeds = [1, 2, 4]
out = "$TMP/reuse_table"
runs_root = "$TMP/reuse_runs"
base = "experiments/fp32/mlp_fashion_mnist.toml"
set = ["model.width=64", "data.limit_train=4096", "data.limit_test=500", "data.batch=64", "train.epochs=3", "stats.every=32"]
reuse_from = ["$TMP/sweep.toml"]
[[row]]
id = "same"
set = ['formats.W="fp8_e4m3"', "optimizer.lr=0.1"]
EOF2
RC=0
"$BITSIM" sweep "$TMP/reuse.toml" >"$TMP/reuse.log" 2>&1 || RC=$?
check "reuse_from: exit 0 ($(tail -2 "$TMP/reuse.log"))" test "$RC" -eq 0
check "reuse_from: seeds 1 and 2 copied" test "$(grep -c 'copied from .*/runs/W=fp8_e4m3-lr=0.1/seed[12] ' "$TMP/reuse.log")" -eq 2
check "reuse_from: seed 4 trained" grep -q 'same seed 4: done, test accuracy' "$TMP/reuse.log"
check "reuse_from: the copied result.json is the source's, byte for byte" \
  cmp "$TMP/runs/W=fp8_e4m3-lr=0.1/seed1/result.json" "$TMP/reuse_runs/same/seed1/result.json"
check "reuse_from: sweep_run.json names the source" grep -q '"copied_from": ".*/runs/W=fp8_e4m3-lr=0.1/seed2"' "$TMP/reuse_runs/same/seed2/sweep_run.json"
check "reuse_from: the statistics came too" test -s "$TMP/reuse_runs/same/seed1/stats.h5"
# A run evaluated on held-out training samples (data.holdout) says so when it finishes and when it is skipped.
cat >"$TMP/heldout.toml" <<EOF2
seeds = [1]
out = "$TMP/heldout_table"
runs_root = "$TMP/heldout_runs"
base = "experiments/fp32/mlp_fashion_mnist.toml"
set = ["model.width=16", "data.holdout=59000", "data.limit_test=100", "data.batch=100", "train.epochs=1"]
EOF2
RC=0
"$BITSIM" sweep "$TMP/heldout.toml" >"$TMP/heldout.log" 2>&1 || RC=$?
check "held out: exit 0 ($(tail -2 "$TMP/heldout.log"))" test "$RC" -eq 0
check "held out: done, held-out accuracy" grep -q ': done, held-out accuracy' "$TMP/heldout.log"
"$BITSIM" sweep "$TMP/heldout.toml" >"$TMP/heldout2.log" 2>&1 || RC=$?
check "held out: skipped (held-out accuracy" grep -q 'result.json exists (held-out accuracy' "$TMP/heldout2.log"
printf 'seeds = [1]\nout = "%s/badout"\nruns_root = "%s/badruns"\nbase = "experiments/fp32/mlp_fashion_mnist.toml"\nreuse_from = ["%s/nothere.toml"]\n' "$TMP" "$TMP" "$TMP" >"$TMP/badreuse.toml"
run "" sweep "$TMP/badreuse.toml"
check "reuse_from a missing sweep file: exit 2" test "$RC" -eq 2
check "reuse_from a missing sweep file: named" grep -q "badreuse.toml: reuse_from: .*nothere.toml: cannot open" <<<"$ERR"
check "reuse_from a missing sweep file: nothing written" test ! -e "$TMP/badout" -a ! -e "$TMP/badruns"

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

# Long tables across machines (docs/sweeps.md, "Long tables"): a sweep whose run folders live in a git
# repository and keep only unfinished runs' checkpoints is stopped, committed, cloned elsewhere and
# continued there with --resume: the finished run is skipped, the stopped one continues from its
# committed checkpoint to the digest of its recorded command run uninterrupted, and no checkpoint is
# left once the table is complete. The table's header sums the run times and both sessions.
if command -v git >/dev/null; then
  REPO=$TMP/repo
  mkdir -p "$REPO/cfg"
  cp experiments/fp32/mlp_fashion_mnist.toml "$REPO/cfg/mlp.toml"
  cat >"$REPO/long.toml" <<'EOF2'
title = "a long table"
seeds = [1, 2]
out = "results/long"
runs_root = "results/long/runs"
base = "cfg/mlp.toml"
set = ["model.width=256", "data.limit_train=16384", "data.limit_test=500", "data.batch=64", "train.epochs=4", "train.checkpoint_every_steps=8"]
keep_checkpoints = false
EOF2
  G=(git -C "$REPO" -c user.name=bitsim-test -c user.email=test@invalid)
  "${G[@]}" init -q
  RUNS=$REPO/results/long/runs/base
  (cd "$REPO" && exec "$BITSIM" sweep long.toml) >"$TMP/long1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 1200); do
    [ -f "$RUNS/seed2/checkpoint.bin" ] && break
    sleep 0.05
  done
  kill -TERM "$PID"
  RC=0
  wait "$PID" || RC=$?
  check "long table: the first session stops with 130 ($(tail -2 "$TMP/long1.log"))" test "$RC" -eq 130
  check "long table: seed 1 finished, its checkpoint deleted" test -f "$RUNS/seed1/result.json" -a ! -e "$RUNS/seed1/checkpoint.bin"
  check "long table: seed 2 stopped with a checkpoint" test -f "$RUNS/seed2/checkpoint.bin" -a ! -e "$RUNS/seed2/result.json"
  "${G[@]}" add -A
  "${G[@]}" commit -qm "the sweep so far"
  check "long table: the stopped run's checkpoint is committed" bash -c "git -C '$REPO' ls-files | grep -qx results/long/runs/base/seed2/checkpoint.bin"
  git clone -q "$REPO" "$TMP/clone"
  RC=0
  (cd "$TMP/clone" && exec "$BITSIM" sweep long.toml --resume) >"$TMP/long2.log" 2>&1 || RC=$?
  check "long table: --resume in a clean clone exits 0 ($(tail -2 "$TMP/long2.log"))" test "$RC" -eq 0
  check "long table: the finished run is skipped" grep -q 'base seed 1: skipped' "$TMP/long2.log"
  check "long table: the stopped run resumes from its committed checkpoint" grep -q 'base seed 2: resuming from its checkpoint' "$TMP/long2.log"
  CRUNS=$TMP/clone/results/long/runs/base
  check "long table: no checkpoint left once complete" test -z "$(find "$TMP/clone/results" -name 'checkpoint.bin*')"
  # The recorded command of the resumed run, alone and uninterrupted, gives the same weights.
  CMD=$(sed -n 's/^  "command": "\(.*\)"$/\1/p' "$CRUNS/seed2/sweep_run.json" | sed 's/\\"/"/g')
  check "long table: the run folder records its command" grep -q '^bitsim train cfg/mlp.toml --set seed=2 ' <<<"$CMD"
  eval "set -- $CMD"
  shift
  (cd "$TMP/clone" && exec "$BITSIM" "$@" --set run.dir="\"$TMP/alone2\"") >/dev/null 2>&1
  check "long table: resumed across clones = the recorded command uninterrupted ($(digest "$CRUNS/seed2"))" \
    test -n "$(digest "$CRUNS/seed2")" -a "$(digest "$CRUNS/seed2")" = "$(digest "$TMP/alone2")"
  T=$TMP/clone/results/long/table.md
  check "long table: the header names the commit and CPU" grep -q '^Runs finished by bitsim at commit [0-9a-f]\{12\}' "$T"
  check "long table: the header sums run times and both sessions" \
    grep -q '^Time: the 2 runs trained for .* in all .*; the sweep sessions that ran them took .* elapsed: 1 worker × 1 thread (2 sessions)' "$T"
  # --resume refuses what is not this sweep.
  (cd "$TMP/clone" && exec "$BITSIM" sweep long.toml --resume --out "$TMP/nowhere" >"$TMP/out" 2>"$TMP/err") && RC=0 || RC=$?
  check "--resume without a recorded sweep: exit 2" test "$RC" -eq 2
  check "--resume without a recorded sweep: says so" grep -q -- "--resume: nothing to resume: $TMP/nowhere/sweep.json" "$TMP/err"
  (cd "$TMP/clone" && exec "$BITSIM" sweep long.toml --resume --seeds 1,2,3 >"$TMP/out" 2>"$TMP/err") && RC=0 || RC=$?
  check "--resume with other seeds: exit 2" test "$RC" -eq 2
  check "--resume with other seeds: names the record" grep -q "results/long/sweep.json records other rows, seeds or run folders" "$TMP/err"
else
  fail "git is missing: the committed-table test needs it"
fi

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
