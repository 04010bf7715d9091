#!/usr/bin/env bash
# The committed paper tables (experiments/*/results/*, docs/sweeps.md "Long tables"):
# - the repository holds at most 50 MB of checkpoints, each in the folder of an unfinished run, and a
#   complete table holds none;
# - every committed table.md is what `bitsim sweep PLAN --table-only` makes of the committed run
#   folders (all but the line naming the bitsim that wrote it);
# - the shortest finished cell of them all, re-run from the command its folder records, gives its
#   recorded weights digest bit for bit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# Checkpoints: size, place.
TOTAL=$(find experiments -name checkpoint.bin -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
check "at most 50 MB of checkpoints in experiments/ ($TOTAL bytes)" test "$TOTAL" -le 52428800
while IFS= read -r ck; do
  check "$ck: belongs to an unfinished run" test ! -e "$(dirname "$ck")/result.json"
done < <(find experiments -name checkpoint.bin)

SHORTEST="" SHORTEST_SECONDS=""
TABLES=0
for sj in $(find experiments -path '*/results/*' -name sweep.json | sort); do
  out=$(dirname "$sj")
  # Only tables whose run folders are committed with them (runs_root inside the results folder).
  ls "$out/runs" >/dev/null 2>&1 || continue
  TABLES=$((TABLES + 1))
  plan=$(sed -n 's/^  "source": "\(.*\)",$/\1/p' "$sj")
  check "$sj: names its sweep file ($plan)" test -f "$plan"
  mapfile -t dirs < <(sed -n 's/^ *"dir": "\(.*\)",\{0,1\}$/\1/p' "$sj")
  finished=0
  for d in "${dirs[@]}"; do [ -f "$d/result.json" ] && finished=$((finished + 1)); done
  if [ "$finished" -eq "${#dirs[@]}" ]; then
    check "$out: complete, so it holds no checkpoint" test -z "$(find "$out" -name checkpoint.bin)"
  fi
  # The table from the committed folders, as its command makes it (elsewhere, with the sessions record).
  mkdir -p "$TMP/regen"
  [ -f "$out/sessions.json" ] && cp "$out/sessions.json" "$TMP/regen/"
  RC=0
  "$BITSIM" sweep "$plan" --table-only --out "$TMP/regen" >"$TMP/regen.log" 2>&1 || RC=$?
  check "$plan --table-only: exit 0" test "$RC" -eq 0
  check "$out/table.md: regenerated from the committed runs" \
    diff <(sed 1,3d "$out/table.md") <(sed 1,3d "$TMP/regen/table.md")
  rm -rf "$TMP/regen"
  for d in "${dirs[@]}"; do
    [ -f "$d/result.json" ] || continue
    s=$(sed -n 's/^  "train_seconds": \([0-9.e+-]*\),$/\1/p' "$d/result.json")
    if [ -n "$s" ] && { [ -z "$SHORTEST" ] || awk -v a="$s" -v b="$SHORTEST_SECONDS" 'BEGIN { exit !(a < b) }'; }; then
      SHORTEST=$d SHORTEST_SECONDS=$s
    fi
  done
done
check "some committed full-scale table found ($TABLES)" test "$TABLES" -ge 1
if [ -n "$SHORTEST" ]; then
  CMD=$(sed -n 's/^  "command": "\(.*\)"$/\1/p' "$SHORTEST/sweep_run.json" | sed 's/\\"/"/g')
  check "$SHORTEST: records its command" grep -q '^bitsim train ' <<<"$CMD"
  eval "set -- $CMD"
  shift
  RC=0
  "$BITSIM" "$@" --set run.dir="\"$TMP/again\"" >"$TMP/again.log" 2>&1 || RC=$?
  check "$SHORTEST re-run: exit 0 ($(tail -2 "$TMP/again.log"))" test "$RC" -eq 0
  check "$SHORTEST re-run ($SHORTEST_SECONDS s of training): the recorded weights digest $(digest "$SHORTEST")" \
    test -n "$(digest "$SHORTEST")" -a "$(digest "$SHORTEST")" = "$(digest "$TMP/again")"
else
  fail "no finished cell in the committed tables"
fi
finish
