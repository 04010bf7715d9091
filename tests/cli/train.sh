#!/usr/bin/env bash
# `bitsim train` (sim/train/): a small run on 1000 Fashion-MNIST samples, --set, --quiet, --threads,
# errors (bad keys and values named by file:line and key path, a missing config file, a missing data
# set, --resume without a checkpoint, a folder that already holds one), and bit-identical resumption
# after train.stop_after_steps and after a SIGKILL in the middle of training.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# 1000 samples in batches of 128 with drop_last: 7 steps per epoch, 14 in all.
CFG=$TMP/small.toml
cat >"$CFG" <<'EOF'
name = "small"
seed = 7
threads = 1

[model]
name = "mlp"
width = 64

[data]
batch = 128
limit_train = 1000
limit_test = 500

[train]
epochs = 2

[optimizer]
lr = 0.05
EOF


# train_ok NAME ARGS...: `bitsim train ARGS...` exits 0 with an empty stderr.
train_ok() {
  local name=$1
  shift
  run "" train "$@"
  if [ "$RC" -ne 0 ]; then fail "$name: exit status $RC (stderr: $ERR)"; return 1; fi
  if [ -n "$ERR" ]; then fail "$name: unexpected stderr: $ERR"; return 1; fi
  return 0
}

# check NAME COMMAND...: passes when COMMAND succeeds.
DONE_RE='^done: 14 steps, test accuracy [0-9]+\.[0-9]{2}% \(loss [0-9]+\.[0-9]{4}\), [0-9]+\.[0-9] s of training; results in .*/r1/$'

# ---- a run ---------------------------------------------------------------------------------------
if train_ok run "$CFG" --set "run.dir=$TMP/r1" --no-progress; then
  last=$(tail -n 1 <<<"$OUT")
  if grep -Eq -- "$DONE_RE" <<<"$last"; then pass; else fail "run: final line '$last' does not match /$DONE_RE/"; fi
  if grep -q '^small: mlp on fashion-mnist (1000 train / 500 test samples)' <<<"$OUT" &&
    grep -q '^epoch 1/2: train loss' <<<"$OUT" && grep -q '^epoch 2/2: train loss' <<<"$OUT"; then
    pass
  else
    fail "run: expected a header line and one line per epoch, got:"$'\n'"$OUT"
  fi
  for f in config.toml model.txt metrics.csv checkpoint.bin result.json; do
    check "run: $f written" test -s "$TMP/r1/$f"
  done
  check "run: metrics.csv has a header and 2 rows" test "$(wc -l <"$TMP/r1/metrics.csv")" -eq 3
fi
REF=$(digest "$TMP/r1")
check "run: result.json holds a 16-digit digest" grep -Eq '^[0-9a-f]{16}$' <<<"$REF"

# The same run again gives the same weights; so do other thread counts.
train_ok again "$CFG" --set "run.dir=$TMP/r1b" --no-progress --quiet &&
  check "again: same digest" test "$(digest "$TMP/r1b")" = "$REF"
train_ok threads2 "$CFG" --set "run.dir=$TMP/r1t" --threads 2 --no-progress --quiet &&
  check "threads2: same digest" test "$(digest "$TMP/r1t")" = "$REF"

# --quiet: nothing on stdout.
if train_ok quiet "$CFG" --set "run.dir=$TMP/rq" --no-progress --quiet; then
  check "quiet: empty stdout" test -z "$OUT"
  check "quiet: result.json" test -s "$TMP/rq/result.json"
fi

# Progress on a non-terminal: plain lines on stderr.
run "" train "$CFG" --set "run.dir=$TMP/rp" --quiet
if [ "$RC" -eq 0 ] && grep -q 'epoch 2/2 step 7/7' <<<"$ERR"; then pass; else fail "progress: rc $RC, stderr: $ERR"; fi

# ---- --set -----------------------------------------------------------------------------------------
if train_ok set "$CFG" --set train.epochs=1 --set "run.dir=$TMP/rs" --set 'name="renamed"' --set optimizer.lr=0.02 --no-progress; then
  check "set: 7 steps" grep -q '^done: 7 steps' <<<"$OUT"
  check "set: the name" grep -q '^renamed: mlp' <<<"$OUT"
  check "set: config.toml has epochs = 1" grep -qx 'epochs = 1' "$TMP/rs/config.toml"
  check "set: config.toml has lr = 0.02" grep -qx 'lr = 0.02' "$TMP/rs/config.toml"
  check "set: one metrics row" test "$(wc -l <"$TMP/rs/metrics.csv")" -eq 2
  check "set: another digest" test "$(digest "$TMP/rs")" != "$REF"
fi
# An inline table for a role.
train_ok set_role "$CFG" --set "run.dir=$TMP/rr" --set train.epochs=1 --no-progress --quiet \
  --set 'formats.G={format="fp8_e4m3", rounding="sr", sr_bits=8}' &&
  check "set_role: resolved config" grep -qx 'G = { format = "fp8_e4m3", rounding = "sr", sr_bits = 8 }' "$TMP/rr/config.toml"

# ---- errors: exit status 2, nothing on stdout, a message naming what is wrong ----------------------
cat >"$TMP/bad.toml" <<'EOF'
name = "bad"

[data]
batch = 64
bogus = 1
EOF
expect_error bad_key "" "" "bad\.toml:5:.*'data\.bogus'" train "$TMP/bad.toml" --no-progress
printf 'name = "bad"\n[optimizer]\nlr = -0.5\n' >"$TMP/bad_range.toml"
expect_error bad_range "" "" "bad_range\.toml:3:.*'optimizer\.lr'" train "$TMP/bad_range.toml" --no-progress
printf 'name = "bad"\n\n[formats]\nW = "fp7"\n' >"$TMP/bad_format.toml"
expect_error bad_format "" "" "bad_format\.toml:4:.*'formats\.W'" train "$TMP/bad_format.toml" --no-progress
printf 'name = "bad"\nseed = [1\n' >"$TMP/bad_syntax.toml"
expect_error bad_syntax "" "" "bad_syntax\.toml:[0-9]+:" train "$TMP/bad_syntax.toml" --no-progress
expect_error bad_set_key "" "" "'optimizer\.lrr'" train "$CFG" --set optimizer.lrr=0.1 --set "run.dir=$TMP/e1" --no-progress
expect_error bad_set_value "" "" "'data\.batch'" train "$CFG" --set data.batch=0 --set "run.dir=$TMP/e2" --no-progress
expect_error bad_set_syntax "" "" "key\.path=value" train "$CFG" --set novalue --set "run.dir=$TMP/e3" --no-progress
expect_error missing_config "" "" "$TMP/absent\.toml" train "$TMP/absent.toml" --no-progress
expect_error no_config "" "" "" train
expect_error bad_threads "" "" "threads" train "$CFG" --threads 1025 --set "run.dir=$TMP/e4"
# --threads 0 is all cores, as the config's threads = 0 is (the progress line names the count).
run "" train "$CFG" --threads 0 --set train.stop_after_steps=1 --set "run.dir=$TMP/t0" --no-progress
check "--threads 0: all cores ($(nproc) here; rc $RC)" bash -c "[ $RC -eq 0 ] && grep -q ', $(nproc) threads' <<<'$OUT'"
expect_error no_dataset "" "" "apt-get install dataset-fashion-mnist" train "$CFG" --set "data.dir=$TMP/nodata" \
  --set "run.dir=$TMP/e5" --no-progress
expect_error resume_nothing "" "" "no checkpoint to resume from" train "$CFG" --set "run.dir=$TMP/e6" --resume --no-progress
# r1 holds a checkpoint: starting again there needs --resume or --overwrite.
expect_error existing "" "" "--resume.*--overwrite" train "$CFG" --set "run.dir=$TMP/r1" --no-progress
check "existing: result.json untouched" test "$(digest "$TMP/r1")" = "$REF"
# Resuming with another config.
train_ok stop3 "$CFG" --set "run.dir=$TMP/rc" --set train.stop_after_steps=3 --no-progress --quiet || true
expect_error resume_other_config "" "" "different configuration" train "$CFG" --set "run.dir=$TMP/rc" \
  --set optimizer.lr=0.07 --resume --no-progress

# --overwrite starts afresh.
train_ok overwrite "$CFG" --set "run.dir=$TMP/rc" --overwrite --no-progress --quiet &&
  check "overwrite: same digest as a fresh run" test "$(digest "$TMP/rc")" = "$REF"

# ---- interrupted and resumed ---------------------------------------------------------------------
# Stopped in the middle of epoch 1 (step 5) and at the epoch boundary (step 7).
for k in 5 7; do
  if train_ok "stop$k" "$CFG" --set "run.dir=$TMP/s$k" --set "train.stop_after_steps=$k" --no-progress; then
    check "stop$k: message" grep -q "^stopped after $k steps" <<<"$OUT"
    check "stop$k: no result.json yet" test ! -e "$TMP/s$k/result.json"
  fi
  train_ok "resume$k" "$CFG" --set "run.dir=$TMP/s$k" --resume --no-progress --quiet &&
    check "resume$k: same digest as the uninterrupted run" test "$(digest "$TMP/s$k")" = "$REF"
  check "resume$k: same metrics (without the timing columns)" \
    test "$(cut -d, -f1-7 "$TMP/s$k/metrics.csv")" = "$(cut -d, -f1-7 "$TMP/r1/metrics.csv")"
done

# Killed with SIGKILL during training, checkpointing after every step: the checkpoint on disk is
# complete (written to a temporary file, then renamed) and resuming from it gives the uninterrupted
# result. The CNN is slower than the MLP: the kill, 0.2 s after the first checkpoint, lands in the
# middle of its 64 steps (about step 16 on an idle machine; later steps take longer under load).
KILL=(--set model.name=cnn --set model.width=8 --set data.batch=32 --set data.limit_train=1024)
train_ok kill_reference "$CFG" "${KILL[@]}" --set "run.dir=$TMP/kref" --no-progress --quiet || true
KREF=$(digest "$TMP/kref")
"$BITSIM" train "$CFG" "${KILL[@]}" --set "run.dir=$TMP/k" --set train.checkpoint_every_steps=1 --no-progress --quiet \
  >"$TMP/k.out" 2>"$TMP/k.err" &
pid=$!
for _ in $(seq 1 400); do
  [ -e "$TMP/k/checkpoint.bin" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
sleep 0.2
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ -e "$TMP/k/result.json" ]; then
  fail "kill: the run finished before it was killed (make it longer)"
elif [ ! -e "$TMP/k/checkpoint.bin" ]; then
  fail "kill: no checkpoint.bin after the kill (stderr: $(cat "$TMP/k.err"))"
else
  pass
  train_ok kill_resume "$CFG" "${KILL[@]}" --set "run.dir=$TMP/k" --resume --no-progress --quiet &&
    check "kill: resumed digest equals the uninterrupted one" test "$(digest "$TMP/k")" = "$KREF"
fi

# data.holdout: the last N training images are held out. Training (and the normalization statistics)
# then see exactly the first 60000 - N, as data.limit_train = 60000 - N gives: the same weights. The
# evaluation is on the held-out images, and the run says so.
printf '[model]\nname = "mlp"\nwidth = 32\n[data]\nbatch = 100\n[train]\nepochs = 1\n' >"$TMP/ho.toml"
HO=("$TMP/ho.toml" --no-progress --threads 1)
RC=0
"$BITSIM" train "${HO[@]}" --set data.holdout=10000 --set "run.dir=\"$TMP/ho\"" >"$TMP/ho.log" 2>&1 || RC=$?
check "holdout: exit 0 ($(tail -2 "$TMP/ho.log"))" test "$RC" -eq 0
RC=0
"$BITSIM" train "${HO[@]}" --set data.limit_train=50000 --set "run.dir=\"$TMP/lt\"" --quiet >"$TMP/lt.log" 2>&1 || RC=$?
check "limit_train 50000: exit 0 ($(tail -2 "$TMP/lt.log"))" test "$RC" -eq 0
check "holdout: the weights of training on the first 50000 ($(digest "$TMP/ho"))" \
  test -n "$(digest "$TMP/ho")" -a "$(digest "$TMP/ho")" = "$(digest "$TMP/lt")"
check "holdout: 50000 train / 10000 held-out samples" grep -q '(50000 train / 10000 held-out samples)' "$TMP/ho.log"
check "holdout: result.json says evaluated_on held-out" grep -q '"evaluated_on": "held-out"' "$TMP/ho/result.json"
check "holdout: result.json of a test-set run says test" grep -q '"evaluated_on": "test"' "$TMP/lt/result.json"
check "holdout: the held-out accuracy is not the test accuracy" \
  test "$(grep '"test_accuracy"' "$TMP/ho/result.json")" != "$(grep '"test_accuracy"' "$TMP/lt/result.json")"
RC=0
"$BITSIM" train "${HO[@]}" --set data.holdout=60000 --set "run.dir=\"$TMP/ho2\"" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "holdout of the whole training set: exit 2" test "$RC" -eq 2
check "holdout of the whole training set: says so" grep -q 'data.holdout = 60000 leaves no training sample (the training set has 60000)' "$TMP/err"
check "holdout of the whole training set: no result" test ! -e "$TMP/ho2/result.json"

finish
