#!/usr/bin/env bash
# The worked examples of the contract pages docs/spec/formats.md and docs/spec/gemm.md, run as tests.
# The expected outputs in those pages were derived by hand from their rules; this script checks that
# the program still produces them, so the pages cannot drift from the code.
#
# Convention (stated at the top of each page):
#   - An example is a fenced block whose opening line is exactly ```console and whose closing line
#     is ``` (no indentation). Other blocks are not examples.
#   - Inside it, a line starting with "$ " is a command. The lines after it, up to the next "$ " line
#     or the closing fence, are its exact standard output (byte for byte, every line ending in a
#     newline; no lines means no output).
#   - Commands are run by bash, one at a time in the order of the page, in one scratch directory per
#     page (so a command may read a file an earlier one wrote, e.g. `$ printf '1 2\n' > a.txt`), with
#     standard input empty unless the command supplies it. `bitsim` is a shell function that runs the
#     binary under test, so it may appear anywhere in a command (`printf '1\n' | bitsim quantize ...`).
#   - A command ending in the comment `# exit N` must exit with status N and print something on
#     standard error (the message is not compared); every other command must exit with status 0 and
#     print nothing on standard error.
#   - A page with fewer than MIN_EXAMPLES commands that call bitsim fails: a broken extractor must not
#     pass by finding nothing.
# A mismatch is reported with the page and the line of the command.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SPEC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../docs/spec" && pwd)
MIN_EXAMPLES=10

# run_command PAGE LINE WORKDIR COMMAND EXPECTED_FILE: runs one command and compares.
run_command() {
  local page=$1 line=$2 work=$3 cmd=$4 expected=$5
  local want_rc=0
  if [[ $cmd =~ \#[[:space:]]*exit[[:space:]]+([0-9]+)[[:space:]]*$ ]]; then want_rc=${BASH_REMATCH[1]}; fi
  {
    printf 'bitsim() { "$BITSIM_UNDER_TEST" "$@"; }\n'
    printf '%s\n' "$cmd"
  } >"$TMP/cmd.sh"
  local rc=0
  # Debian's python3 first (examples use numpy; a python3 of another installation may lack it).
  (cd "$work" && PATH="/usr/bin:$PATH" BITSIM_UNDER_TEST="$BITSIM" bash "$TMP/cmd.sh" </dev/null >"$TMP/got" 2>"$TMP/err") || rc=$?
  local where="$page:$line: \$ $cmd"
  if [ "$rc" -ne "$want_rc" ]; then
    fail "$where"$'\n'"  exit status $rc, expected $want_rc; stderr: $(cat "$TMP/err")"
    return 0
  fi
  if ! cmp -s "$expected" "$TMP/got"; then
    fail "$where"$'\n'"  standard output differs (- expected, + actual):"$'\n'"$(diff -u "$expected" "$TMP/got" | tail -n +3)"
    return 0
  fi
  if [ "$want_rc" -eq 0 ] && [ -s "$TMP/err" ]; then
    fail "$where"$'\n'"  unexpected standard error: $(cat "$TMP/err")"
    return 0
  fi
  if [ "$want_rc" -ne 0 ] && [ ! -s "$TMP/err" ]; then
    fail "$where"$'\n'"  exit status $rc but no message on standard error"
    return 0
  fi
  pass
}

# check_page FILE: extracts and runs every console block of FILE.
check_page() {
  local file=$1 page
  page=docs/spec/$(basename "$file")
  [ -f "$file" ] || { fail "$page: missing"; return 0; }
  local work
  work=$(mktemp -d "$TMP/work.XXXXXX")
  local in_block=0 have_cmd=0 cmd="" cmd_line=0 line_no=0 blocks=0 commands=0 bitsim_commands=0 block_line=0 line
  : >"$TMP/expected"
  flush() {  # runs the pending command, if any
    if [ "$have_cmd" -eq 1 ]; then
      run_command "$page" "$cmd_line" "$work" "$cmd" "$TMP/expected"
      have_cmd=0
      : >"$TMP/expected"
    fi
  }
  while IFS= read -r line || [ -n "$line" ]; do
    line_no=$((line_no + 1))
    if [ "$in_block" -eq 0 ]; then
      if [ "$line" = '```console' ]; then
        in_block=1
        block_line=$line_no
        blocks=$((blocks + 1))
      fi
      continue
    fi
    if [ "$line" = '```' ]; then
      if [ "$have_cmd" -eq 0 ]; then fail "$page:$block_line: console block without a \$ command"; fi
      flush
      in_block=0
      continue
    fi
    if [[ $line == '$ '* ]]; then
      flush
      cmd=${line#'$ '}
      cmd_line=$line_no
      have_cmd=1
      commands=$((commands + 1))
      if [[ $cmd =~ (^|[^A-Za-z0-9_./-])bitsim([[:space:]]|$) ]]; then bitsim_commands=$((bitsim_commands + 1)); fi
      continue
    fi
    if [ "$have_cmd" -eq 0 ]; then
      fail "$page:$line_no: output line before any \$ command in the console block of line $block_line"
      continue
    fi
    printf '%s\n' "$line" >>"$TMP/expected"
  done <"$file"
  if [ "$in_block" -eq 1 ]; then
    fail "$page:$block_line: console block not closed"
    flush
  fi
  echo "$page: $blocks console blocks, $commands commands ($bitsim_commands run bitsim)"
  if [ "$bitsim_commands" -lt "$MIN_EXAMPLES" ]; then
    fail "$page: only $bitsim_commands bitsim examples found (at least $MIN_EXAMPLES expected; is the extractor broken?)"
  fi
}

check_page "$SPEC_DIR/formats.md"
check_page "$SPEC_DIR/gemm.md"

finish
