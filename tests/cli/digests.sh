#!/usr/bin/env bash
# The weights digests of short versions of every experiment: each training config of experiments/ and
# every row of every sweep table (its first seed, with the row's overrides), shortened to one epoch of
# 512 training images (data.limit_train, data.limit_test, train.epochs overridden). The expected
# digests are in tests/cli/digests.txt; any change of a result bit (a refactor that changed what it
# should not) fails here, naming the run.
#
#   digests.sh BITSIM [sample|full] [--record]
#     sample (the default, in CI): the training configs and the first row of every table
#     full (ctest -L digests): every row of every table
#     --record rewrites digests.txt from this build (only after a change meant to alter results)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXPECTED=$ROOT/tests/cli/digests.txt
MODE=${2:-sample}
RECORD=0
[ "${3:-}" = --record ] && RECORD=1
SHORT=(--set data.limit_train=512 --set data.limit_test=128 --set train.epochs=1 --set stats.every=0 --no-progress --quiet)

declare -A got
# one KEY COMMAND...: runs a shortened training and records its digest under KEY.
one() {
  local key=$1 dir=$TMP/run_$RANDOM$RANDOM rc=0
  shift
  "$@" "${SHORT[@]}" --set run.dir="\"$dir\"" >"$TMP/log" 2>&1 || rc=$?
  got[$key]=$(digest "$dir")
  if [ "$rc" -ne 0 ] || [ -z "${got[$key]}" ]; then fail "$key: exit status $rc: $(tail -3 "$TMP/log")"; got[$key]=failed; fi
  rm -rf "$dir"
}

cd "$ROOT"
for cfg in $(find experiments -name '*.toml' -not -path '*/results/*' | sort); do  # not the run folders' resolved configs
  grep -q '^\[\[row\]\]' "$cfg" && continue  # a sweep table, below
  one "$cfg" "$BITSIM" train "$cfg"
done
for table in $(grep -l '^\[\[row\]\]' $(find experiments -name '*.toml' -not -path '*/results/*') | sort); do
  first_seed=""
  rows_done=0
  while IFS=$'\t' read -r _ row seed _ command; do
    [ -z "$first_seed" ] && first_seed=$seed
    [ "$seed" = "$first_seed" ] || continue
    [ "$MODE" = sample ] && [ "$rows_done" -ge 1 ] && break
    rows_done=$((rows_done + 1))
    # The listed command, for the same binary (it is quoted for a shell: evaluate it).
    eval "set -- $command"
    shift  # the binary the sweep names
    one "$table:$row" "$BITSIM" "$@"
  done < <("$BITSIM" sweep "$table" --list)
done

if [ "$RECORD" = 1 ]; then
  for key in "${!got[@]}"; do printf '%s %s\n' "$key" "${got[$key]}"; done | sort >"$EXPECTED"
  echo "digests.sh: recorded ${#got[@]} digests in $EXPECTED"
  exit 0
fi
for key in "${!got[@]}"; do
  want=$(awk -v k="$key" '$1 == k { print $2 }' "$EXPECTED")
  if [ -z "$want" ]; then fail "$key: no recorded digest (record with --record after checking why)"
  elif [ "$want" = "${got[$key]}" ]; then pass
  else fail "$key: digest ${got[$key]}, recorded $want"; fi
done
check "digests: ran at least 30 runs (${#got[@]})" test "${#got[@]}" -ge 30
finish
