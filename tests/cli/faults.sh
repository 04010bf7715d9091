#!/usr/bin/env bash
# Faults during training (docs/RELIABILITY.md):
#   1. SIGKILL at 10 random moments of one run (8-bit formats with stochastic rounding, checkpoints every
#      4 steps, statistics every 8): after each kill the run resumes from its last checkpoint; the final
#      weights digest, metrics.csv and the statistics of every logged step equal an uninterrupted run's.
#   2. A full disk while writing the checkpoint, the statistics file and the final result (simulated
#      with the LD_PRELOAD injector tests/fault/enospc_preload.cpp, and for real on a small tmpfs when
#      this machine lets us mount one): a clear error naming the file, a non-zero exit, the previous
#      checkpoint byte-identical, no temporary file left; resuming afterwards gives the uninterrupted
#      result.
#   1b. SIGKILL inside a flush of the statistics file (every write to it made slow with the injector):
#      the flush runs in a helper process the kill does not reach, which finishes it; the file then
#      holds every step committed before the kill, and a resume (which waits for that helper) gives
#      the uninterrupted run's statistics.
#   3. SIGINT: the run stops after the current step with exit status 130, a checkpoint, a closed
#      statistics file holding every step so far; resuming gives the uninterrupted result.
# usage: faults.sh BITSIM ENOSPC_PRELOAD_LIBRARY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PRELOAD=${2:?usage: $0 BITSIM ENOSPC_PRELOAD_LIBRARY}
[ -f "$PRELOAD" ] || { echo "no such library: $PRELOAD" >&2; exit 1; }

sum() { sha256sum "$1" | cut -d' ' -f1; }

# 4096 samples in batches of 64: 64 steps per epoch, 128 in all; a few seconds of training.
CFG=$TMP/faults.toml
cat >"$CFG" <<'EOF'
name = "faults"
seed = 11
threads = 1
[model]
name = "cnn"
width = 8
[data]
batch = 64
limit_train = 4096
limit_test = 500
[train]
epochs = 2
checkpoint_every_steps = 4
[formats]
W = "fp8_e4m3"
A = "fp8_e4m3"
E = { format = "fp8_e5m2", rounding = "sr", sr_bits = 8 }
G = { format = "bf16", rounding = "sr" }
[stats]
every = 8
roles = ["E", "G"]
EOF

"$BITSIM" train "$CFG" --set run.dir="$TMP/whole" --no-progress --quiet
WHOLE=$(digest "$TMP/whole")
check "uninterrupted run has a digest" test -n "$WHOLE"

# The statistics of every logged step as CSV (the same steps in both files give the same text).
stats_text() {
  local f=$1 s
  for s in $("$BITSIM" stats "$f" --steps | awk 'NR > 1 { print $1 }'); do "$BITSIM" stats "$f" --step "$s" --csv -; done
}

# ---- 1. SIGKILL at 10 random moments ----------------------------------------------------------------
# Ten kill points spread over the run's 128 steps: a random step in each of ten slices, and a random
# delay of 0-40 ms once the progress line shows it, so kills land inside steps, between them, and in
# checkpoint writes. The run is resumed (from its last checkpoint) before each next kill.
RANDOM=4242  # random but the same on every run of this test
global_step() {  # the last step (counted over the whole run) the progress line shows in file $1
  tr '\r' '\n' <"$1" | sed -n 's/.*epoch \([0-9]*\)\/[0-9]* step \([0-9]*\)\/\([0-9]*\).*/\1 \2 \3/p' | tail -n 1 |
    awk '{ print ($1 - 1) * $3 + $2 }'
}
points=()
for k in $(seq 0 9); do
  target=$((k * 12 + 1 + RANDOM % 12))
  delay_ms=$((RANDOM % 40))
  resume=()
  [ -f "$TMP/killed/checkpoint.bin" ] && resume=(--resume)
  "$BITSIM" train "$CFG" --set run.dir="$TMP/killed" "${resume[@]}" --quiet 2>"$TMP/kill_$k.err" &
  pid=$!
  for _ in $(seq 1 1500); do
    seen=$(global_step "$TMP/kill_$k.err")
    [ "${seen:-0}" -ge "$target" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  sleep "$(awk -v m="$delay_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  points+=("step$(global_step "$TMP/kill_$k.err")+${delay_ms}ms")
done
echo "kill points (last step shown + delay): ${points[*]}"
resumes=0
until [ -f "$TMP/killed/result.json" ]; do
  resume=()
  [ -f "$TMP/killed/checkpoint.bin" ] && resume=(--resume)
  "$BITSIM" train "$CFG" --set run.dir="$TMP/killed" "${resume[@]}" --no-progress --quiet
  resumes=$((resumes + 1))
  [ "$resumes" -le 2 ] || break
done
check "after 10 SIGKILLs and a resume: the same weights digest ($(digest "$TMP/killed") vs $WHOLE)" \
  test "$(digest "$TMP/killed")" = "$WHOLE"
# metrics.csv without its two timing columns (epoch_seconds, train_images_per_s)
check "after 10 SIGKILLs: the same metrics.csv (timings aside)" \
  cmp -s <(cut -d, -f1-7 "$TMP/whole/metrics.csv") <(cut -d, -f1-7 "$TMP/killed/metrics.csv")
check "after 10 SIGKILLs: no temporary file left" test -z "$(ls "$TMP/killed" | grep -E '\.tmp|partial' || true)"
stats_text "$TMP/whole/stats.h5" >"$TMP/whole_stats.csv"
stats_text "$TMP/killed/stats.h5" >"$TMP/killed_stats.csv"
check "after 10 SIGKILLs: the statistics of all $(grep -c '^layer' "$TMP/whole_stats.csv" || true) logged steps are identical" \
  cmp -s "$TMP/whole_stats.csv" "$TMP/killed_stats.csv"

# ---- 1b. SIGKILL inside a flush of the statistics file --------------------------------------------
# HDF5 writes a flush's metadata in place, a few hundred writes: a process killed inside them would
# leave a torn file. The flush runs in a helper process (h5::flush_surviving_kill) that the kill does
# not reach. With each write to stats.h5 slowed to 5 ms, a flush takes about 0.35 s: once the file has
# two steps, the test waits until a second process holds the file (the helper, inside a flush) and
# kills the run.
FLUSHCFG=(--set stats.every=1 --set train.checkpoint_every_steps=1 --set train.stop_after_steps=24 --no-progress --quiet)
SLOW_STATS=(env LD_PRELOAD="$PRELOAD" BITSIM_FAULT_PATH=stats.h5 BITSIM_FAULT_AFTER=1000000000000 BITSIM_FAULT_WRITE_DELAY_US=5000)
"$BITSIM" train "$CFG" "${FLUSHCFG[@]}" --set run.dir="$TMP/flush_whole"
# kill_inside_flush DIR fresh|resume: starts the slowed run (fresh: in an emptied DIR), waits until
# DIR/stats.h5 holds two steps, then kills the run as soon as a second process holds the file (the
# helper, inside a flush). Sets SEEN (steps committed before the kill) and INSIDE (1: the helper still
# held the file after the kill). Up to 4 attempts, for a flush that ends before the kill on a busy
# machine.
kill_inside_flush() {
  local dir=$1 mode=$2 attempt _ pid
  local args=()
  [ "$mode" = resume ] && args=(--resume)
  for attempt in 1 2 3 4; do
    [ "$mode" = fresh ] && rm -rf "$dir"
    "${SLOW_STATS[@]}" "$BITSIM" train "$CFG" "${FLUSHCFG[@]}" --set run.dir="$dir" "${args[@]}" &
    pid=$!
    SEEN=0 INSIDE=0
    for _ in $(seq 1 600); do
      SEEN=$(committed_steps "$dir/stats.h5")
      [ "$SEEN" -ge 2 ] && break
      sleep 0.02
    done
    for _ in $(seq 1 3000); do
      [ "$(holders "$dir/stats.h5")" -ge 2 ] && { INSIDE=1; break; }
      kill -0 "$pid" 2>/dev/null || break
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ "$INSIDE" -eq 1 ] && [ "$(holders "$dir/stats.h5")" -ge 1 ] && return 0
    INSIDE=0
    wait_unheld "$dir/stats.h5" || true
  done
}
kill_inside_flush "$TMP/flush_killed" fresh
check "the run was killed inside a flush of stats.h5 (its helper process held the file before and after the kill)" test "$INSIDE" -eq 1
check "the helper process finishes the flush and lets go of the file" wait_unheld "$TMP/flush_killed/stats.h5"
n=$(committed_steps "$TMP/flush_killed/stats.h5" "$TMP/flush_steps.err")
check "after a kill inside a flush: the file holds the steps committed before ($n >= $SEEN; $(head -c 300 "$TMP/flush_steps.err"))" test "$n" -ge "$SEEN"
check "after a kill inside a flush: h5dump reads the file" h5dump -H "$TMP/flush_killed/stats.h5" >/dev/null 2>&1
stats_text "$TMP/flush_whole/stats.h5" >"$TMP/flush_whole.csv"
stats_text "$TMP/flush_killed/stats.h5" >"$TMP/flush_killed.csv"
check "after a kill inside a flush: its $n steps equal the uninterrupted run's" \
  cmp -s "$TMP/flush_killed.csv" <(head -n "$(wc -l <"$TMP/flush_killed.csv")" "$TMP/flush_whole.csv")
# Killed again inside a flush of the resumed run, then resumed at once: the resume waits for the
# helper to finish before it opens the file.
kill_inside_flush "$TMP/flush_killed" resume
check "the resumed run was killed inside a flush too" test "$INSIDE" -eq 1
RC=0
"$BITSIM" train "$CFG" "${FLUSHCFG[@]}" --set run.dir="$TMP/flush_killed" --resume 2>"$TMP/flush_resume.err" || RC=$?
check "after a kill inside a flush: the resumed run completes ($RC: $(tail -c 300 "$TMP/flush_resume.err"))" test "$RC" -eq 0
check "after a kill inside a flush: no damaged file was set aside" test ! -e "$TMP/flush_killed/stats.h5.damaged"
check "after a kill inside a flush and a resume: all 24 steps' statistics equal the uninterrupted run's" \
  cmp -s "$TMP/flush_whole.csv" <(stats_text "$TMP/flush_killed/stats.h5")

# ---- 2. a full disk ---------------------------------------------------------------------------------
# A run stopped at step 8 (checkpoint at 8), then resumed with writes failing; each case starts from a
# copy of that folder.
"$BITSIM" train "$CFG" --set run.dir="$TMP/base8" --set train.stop_after_steps=8 --no-progress --quiet
CK8=$(sum "$TMP/base8/checkpoint.bin")
# full_disk NAME PATH_SUBSTRING AFTER_BYTES ERE: resume with writes to files matching the substring
# failing after AFTER_BYTES bytes; expects a non-zero exit and a message matching ERE, the checkpoint
# of step 8 or a later complete one (never a damaged one), no temporary files; then a plain resume
# must reach the uninterrupted digest.
full_disk() {
  local name=$1 path=$2 after=$3 pattern=$4 dir=$TMP/disk_$1 rc=0
  rm -rf "$dir" && cp -r "$TMP/base8" "$dir"
  BITSIM_FAULT_PATH=$path BITSIM_FAULT_AFTER=$after LD_PRELOAD=$PRELOAD \
    "$BITSIM" train "$CFG" --set run.dir="$dir" --resume --no-progress --quiet >"$TMP/out_$name" 2>"$TMP/err_$name" || rc=$?
  check "full disk ($name): the injector refused writes" grep -q "writes refused (ENOSPC)" "$TMP/err_$name"
  check "full disk ($name): exit status 2 (got $rc)" test "$rc" -eq 2
  if ! grep -Eq -- "$pattern" "$TMP/err_$name"; then fail "full disk ($name): message does not match /$pattern/: $(cat "$TMP/err_$name")"; else pass; fi
  check "full disk ($name): no crash" bash -c "! grep -Eq 'terminate called|Segmentation|Aborted' '$TMP/err_$name'"
  check "full disk ($name): no temporary file left" test -z "$(ls "$dir" | grep -E '\.tmp' || true)"
  echo "$(sum "$dir/checkpoint.bin")" >"$TMP/ck_$name"
  mkdir -p "$TMP/after_$name" && cp "$dir"/stats.h5* "$TMP/after_$name/" 2>/dev/null || true  # as the failure left it
  "$BITSIM" train "$CFG" --set run.dir="$dir" --resume --no-progress --quiet
  check "full disk ($name): resuming afterwards gives the uninterrupted digest" test "$(digest "$dir")" = "$WHOLE"
}
full_disk checkpoint checkpoint.bin 1000 "checkpoint\.bin.*(No space left|space)"
check "full disk (checkpoint): the checkpoint of step 8 is unchanged" test "$(cat "$TMP/ck_checkpoint")" = "$CK8"
full_disk statistics stats.h5 20000 "stats\.h5: cannot write .*No space left on device"
check "full disk (statistics): the checkpoint of step 8 is unchanged" test "$(cat "$TMP/ck_statistics")" = "$CK8"
# The statistics file on a full disk: whatever step the disk fills at, the file left behind is absent
# (no step was complete) or readable, holding exactly the steps before the failure, as the uninterrupted
# run logged them (the writer reserves the space of each flush first: analysis/hdf5_util.hpp).
# stats_left NAME DIR: checks the file in DIR; prints "absent" or the number of steps it holds.
stats_left() {
  local name=$1 dir=$2 n
  if [ ! -e "$dir/stats.h5" ]; then
    check "stats full disk ($name): no partial file left" test ! -e "$dir/stats.h5.partial"
    echo absent >"$TMP/left_$name"
    return
  fi
  if ! stats_text "$dir/stats.h5" >"$TMP/left_$name.csv" 2>"$TMP/left_$name.err"; then
    fail "stats full disk ($name): the statistics file left behind is unreadable: $(cat "$TMP/left_$name.err")"
    return
  fi
  n=$(wc -l <"$TMP/left_$name.csv")
  check "stats full disk ($name): the file holds the uninterrupted run's first steps ($n lines)" \
    cmp -s "$TMP/left_$name.csv" <(head -n "$n" "$TMP/whole_stats.csv")
  "$BITSIM" stats "$dir/stats.h5" --steps | awk 'NR > 1' | wc -l >"$TMP/left_$name"
}
stats_left resumed "$TMP/after_statistics"
check "stats full disk (resumed): step 0 of the first part is kept" test "$(cat "$TMP/left_resumed")" = 1
WHOLE_STATS_BYTES=$(stat -c %s "$TMP/whole/stats.h5")
for room in 20000 $((WHOLE_STATS_BYTES - 16000)); do
  rc=0
  rm -rf "$TMP/fresh_$room"
  BITSIM_FAULT_PATH=stats.h5 BITSIM_FAULT_AFTER=$room LD_PRELOAD=$PRELOAD \
    "$BITSIM" train "$CFG" --set run.dir="$TMP/fresh_$room" --no-progress --quiet 2>"$TMP/err_fresh_$room" || rc=$?
  check "stats full disk (fresh run, room $room): exit status 2 (got $rc)" test "$rc" -eq 2
  check "stats full disk (fresh run, room $room): the message names the file and the cause" \
    grep -Eq "stats\.h5: cannot write .*No space left on device" "$TMP/err_fresh_$room"
  stats_left "fresh_$room" "$TMP/fresh_$room"
done
check "stats full disk: room for 20000 bytes leaves no file (got $(cat "$TMP/left_fresh_20000"))" test "$(cat "$TMP/left_fresh_20000")" = absent
late=$(cat "$TMP/left_fresh_$((WHOLE_STATS_BYTES - 16000))")
check "stats full disk: a disk that fills late leaves the steps before ($late)" test "$late" != absent -a "${late:-0}" -ge 1
full_disk result result.json 0 "result\.json.*(No space left|space)"
full_disk metrics metrics.csv 0 "metrics\.csv.*(No space left|space)"

# A real full disk, when this machine lets us mount a small tmpfs (root with CAP_SYS_ADMIN): big
# enough for one checkpoint, too small for the next one beside it (written to a temporary file
# first), so the second checkpoint write meets ENOSPC.
MNT=$TMP/tmpfs
mkdir -p "$MNT"
CK_BYTES=$(stat -c %s "$TMP/base8/checkpoint.bin")
if mount -t tmpfs -o size=$((CK_BYTES * 3 / 2 + 65536)) tmpfs "$MNT" 2>/dev/null; then
  rc=0
  "$BITSIM" train "$CFG" --set run.dir="$MNT/run" --set stats.every=0 --no-progress --quiet 2>"$TMP/err_tmpfs" || rc=$?
  check "tmpfs full: exit status 2 (got $rc)" test "$rc" -eq 2
  check "tmpfs full: the message names the checkpoint and ENOSPC" grep -Eq "checkpoint\.bin.*No space left" "$TMP/err_tmpfs"
  check "tmpfs full: no temporary file left" test -z "$(ls "$MNT/run" | grep -E '\.tmp' || true)"
  check "tmpfs full: the last complete checkpoint is kept" test -s "$MNT/run/checkpoint.bin"
  mkdir -p "$TMP/moved" && cp -r "$MNT/run" "$TMP/moved/run"
  umount "$MNT"
  "$BITSIM" train "$CFG" --set run.dir="$TMP/moved/run" --set stats.every=0 --resume --no-progress --quiet
  check "tmpfs full: moved to a roomy disk, the run resumes to the uninterrupted digest" test "$(digest "$TMP/moved/run")" = "$WHOLE"
  # The statistics file alone on a real full disk (stats.file points into the tmpfs): the same promise
  # as with the injector, with the kernel's own fallocate and ENOSPC.
  if mount -t tmpfs -o size=$((WHOLE_STATS_BYTES * 3 / 4)) tmpfs "$MNT" 2>/dev/null; then
    rc=0
    "$BITSIM" train "$CFG" --set run.dir="$TMP/tmpfs_stats" --set stats.file="$MNT/stats.h5" --no-progress --quiet \
      2>"$TMP/err_tmpfs_stats" || rc=$?
    check "tmpfs full (statistics): exit status 2 (got $rc)" test "$rc" -eq 2
    check "tmpfs full (statistics): the message names the file and ENOSPC" \
      grep -Eq "stats\.h5: cannot write .*No space left on device" "$TMP/err_tmpfs_stats"
    stats_left tmpfs "$MNT"
    umount "$MNT"
  fi
else
  echo "tmpfs full: skipped (this machine does not allow mounting a tmpfs); the injector cases above stand"
fi

# ---- 3. SIGINT ----------------------------------------------------------------------------------------
rc=0
"$BITSIM" train "$CFG" --set run.dir="$TMP/int" --set stats.every=1 >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 1 300); do  # wait until a few steps ran (the progress line shows step 5 or later)
  tr '\r' '\n' <"$TMP/int.err" | grep -Eq 'step ([5-9]|[1-9][0-9]+)/' && break
  sleep 0.05
done
kill -INT "$pid"
wait "$pid" || rc=$?
check "SIGINT: exit status 130 (got $rc)" test "$rc" -eq 130
check "SIGINT: says where to resume" grep -q "interrupted after step .*--resume" "$TMP/int.err"
check "SIGINT: a checkpoint is written" test -s "$TMP/int/checkpoint.bin"
check "SIGINT: the statistics file is closed (no .partial)" test -s "$TMP/int/stats.h5" -a ! -e "$TMP/int/stats.h5.partial"
stopped=$(sed -n 's/.*interrupted after step \([0-9]*\).*/\1/p' "$TMP/int.err")
logged=$("$BITSIM" stats "$TMP/int/stats.h5" --steps | awk 'NR > 1' | wc -l)
check "SIGINT: every step up to the stop ($stopped) is in the statistics file ($logged rows)" test "$logged" -eq "${stopped:-x}"
"$BITSIM" train "$CFG" --set run.dir="$TMP/int" --set stats.every=1 --resume --no-progress --quiet
check "SIGINT: resuming gives the uninterrupted digest" test "$(digest "$TMP/int")" = "$WHOLE"

finish
