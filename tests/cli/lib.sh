# Helpers shared by the command-line tests. Sourced by each test script after `set -euo pipefail`;
# the script's first argument is the bitsim binary. Every expected value in the tests is derived by
# hand from docs/spec/formats.md (the derivation is in the comment beside it), never pasted from
# the program's output.

BITSIM=${1:?usage: $0 path/to/bitsim}
[ -x "$BITSIM" ] || { echo "not executable: $BITSIM" >&2; exit 1; }
BITSIM=$(cd "$(dirname "$BITSIM")" && pwd)/$(basename "$BITSIM")  # absolute: some scripts cd elsewhere
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
PASSED=0

# digest DIR: the weights_digest of DIR/result.json (empty when there is none).
digest() { sed -n 's/.*"weights_digest": "\([0-9a-f]*\)".*/\1/p' "$1/result.json" 2>/dev/null || true; }

fail() {
  echo "FAIL: $*" >&2
  FAILED=$((FAILED + 1))
}
pass() { PASSED=$((PASSED + 1)); }

# check NAME COMMAND...: passes when the command succeeds, else fails naming NAME.
check() {
  local name=$1
  shift
  if "$@"; then pass; else fail "$name"; fi
}

# run STDIN_TEXT ARGS...: runs bitsim with the given standard input; sets OUT, ERR and RC.
run() {
  local input=$1
  shift
  RC=0
  printf '%s' "$input" >"$TMP/in"
  "$BITSIM" "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err" || RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
}

# run_from FILE ARGS...: runs bitsim with standard input from FILE (binary-safe, unlike `run`); the
# output stays in $TMP/out (binary) and $TMP/err; sets RC and ERR.
run_from() {
  local file=$1
  shift
  RC=0
  "$BITSIM" "$@" <"$file" >"$TMP/out" 2>"$TMP/err" || RC=$?
  ERR=$(cat "$TMP/err")
}

# table NAME ARGS... <<EOF
#   INPUT  FIELD2 FIELD3 ...
# EOF
# Feeds the first column (one number per line, no spaces) to `bitsim ARGS...` in one run and expects
# exit 0, an empty stderr and, line by line, the remaining columns joined by a tab (or, with
# --testfloat among ARGS, by a space).
table() {
  local name=$1
  shift
  local sep=$'\t' arg
  for arg in "$@"; do [ "$arg" = --testfloat ] && sep=' '; done
  local inputs=() expected=() line in rest
  while IFS= read -r line; do
    [ -z "${line// /}" ] && continue
    read -r in rest <<<"$line"
    inputs+=("$in")
    rest=$(tr -s ' ' <<<"$rest")
    expected+=("${rest// /$sep}")
  done
  run "$(printf '%s\n' "${inputs[@]}")"$'\n' "$@"
  if [ "$RC" -ne 0 ]; then
    fail "$name: exit status $RC (stderr: $ERR)"
    return
  fi
  [ -z "$ERR" ] || fail "$name: unexpected stderr: $ERR"
  local got=()
  mapfile -t got <<<"$OUT"
  [ -z "$OUT" ] && got=()
  if [ "${#got[@]}" -ne "${#inputs[@]}" ]; then
    fail "$name: ${#inputs[@]} inputs but ${#got[@]} output lines:"$'\n'"$OUT"
    return
  fi
  local i ok=1
  for i in "${!inputs[@]}"; do
    if [ "${got[$i]}" != "${expected[$i]}" ]; then
      fail "$name: input '${inputs[$i]}': expected '${expected[$i]}', got '${got[$i]}'"
      ok=0
    fi
  done
  [ $ok -eq 1 ] && pass
  return 0
}

# expect_ok NAME STDIN EXPECTED_STDOUT ARGS...: exit 0, exact stdout, empty stderr.
expect_ok() {
  local name=$1 input=$2 expected=$3
  shift 3
  run "$input" "$@"
  if [ "$RC" -ne 0 ]; then fail "$name: exit status $RC (stderr: $ERR)"; return 0; fi
  if [ "$OUT" != "$expected" ]; then fail "$name: expected stdout"$'\n'"$expected"$'\n'"got"$'\n'"$OUT"; return 0; fi
  [ -z "$ERR" ] || { fail "$name: unexpected stderr: $ERR"; return 0; }
  pass
}

# expect_error NAME STDIN EXPECTED_STDOUT STDERR_ERE ARGS...: exit status exactly 2, stdout exactly
# EXPECTED_STDOUT (the lines before the bad one), and a non-empty stderr matching the extended
# regular expression STDERR_ERE (grep -E; "" accepts any non-empty message).
expect_error() {
  local name=$1 input=$2 expected=$3 pattern=$4
  shift 4
  run "$input" "$@"
  if [ "$RC" -ne 2 ]; then fail "$name: expected exit status 2, got $RC (stdout: $OUT; stderr: $ERR)"; return 0; fi
  if [ "$OUT" != "$expected" ]; then fail "$name: expected stdout"$'\n'"$expected"$'\n'"got"$'\n'"$OUT"; return 0; fi
  if [ -z "$ERR" ]; then fail "$name: no message on stderr"; return 0; fi
  if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" <<<"$ERR"; then
    fail "$name: stderr does not match /$pattern/: $ERR"
    return 0
  fi
  pass
}

# The lines "A B C" of the arguments with tabs between the fields (expected quantize output).
tsv() {
  local l
  for l in "$@"; do printf '%s\n' "${l// /$'\t'}"; done
}

finish() {
  echo "$(basename "$0"): $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# committed_steps FILE [ERRFILE]: how many steps `bitsim stats --steps` lists for the statistics file
# FILE; 0 when it cannot read it (yet), its messages going to ERRFILE (default: discarded).
committed_steps() {
  { "$BITSIM" stats "$1" --steps 2>"${2:-/dev/null}" || true; } | awk 'NR > 1' | wc -l
}

# holders FILE: how many processes have FILE open (a helper process may outlive the one killed).
holders() {
  local f
  f=$(readlink -f "$1")
  { find /proc/[0-9]*/fd -lname "$f" -printf '%h\n' 2>/dev/null || true; } | sort -u | wc -l
}

# wait_unheld FILE: waits (up to 60 s) until no process has FILE open.
wait_unheld() {
  local _
  for _ in $(seq 1 600); do
    [ "$(holders "$1")" -eq 0 ] && return 0
    sleep 0.1
  done
  return 1
}
