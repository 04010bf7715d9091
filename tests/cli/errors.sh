#!/usr/bin/env bash
# Errors of `bitsim quantize` other than bad input lines (see quantize_io.sh): invalid format names
# (the message names the key), options a format does not support, and bad random-word sources.
# Each must exit with status 2, print a message on stderr and nothing on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

w() { printf '(^|[^A-Za-z0-9_])%s([^A-Za-z0-9_]|$)' "$1"; }  # ERE: $1 as a whole word

# bad_format SPEC STDERR_ERE: exit 2, empty stdout, and a message matching STDERR_ERE once every
# echo of SPEC itself is removed from it (so that `float(e=0,m=3)` must name 'e' on its own).
bad_format() {
  run $'1\n' quantize --format "$1"
  local msg=${ERR//"$1"/}
  if [ "$RC" -eq 2 ] && [ -z "$OUT" ] && [ -n "$ERR" ] && { [ -z "$2" ] || grep -Eq -- "$2" <<<"$msg"; }; then
    pass
  else
    fail "format '$1': rc $RC, stdout '$OUT', stderr '$ERR' (expected /$2/)"
  fi
}
bad_format 'float(e=4)' "$(w m)"                      # missing required key m
bad_format 'float(m=3)' "$(w e)"                      # missing required key e
bad_format 'float(e=4,m=3,e=2)' "repeated.*$(w e)|$(w e).*repeated"
bad_format 'float(e=4,m=3,foo=1)' "$(w foo)"          # unknown key
bad_format 'float(e=0,m=3)' "$(w e)"                  # out of range
bad_format 'float(e=16,m=3)' "$(w e)"
bad_format 'float(e=4,m=113)' "$(w m)"
bad_format 'float(e=4,m=-1)' "$(w m)"
bad_format 'float(e=x,m=3)' "$(w e)"
bad_format 'float(e=4,m=3,subnormals=maybe)' "$(w subnormals)"
bad_format 'float(e=4,m=3,special=ocp)' "$(w special)"
bad_format 'float(e=4,m=3,special=fn,overflow=inf)' "$(w overflow)|$(w special)"   # fn has no Inf
bad_format 'float(e=4,m=0,overflow=nan)' "$(w overflow)"                           # m=0 ieee: no NaN
bad_format 'float(e=4,m=3,special=none,overflow=nan)' "$(w overflow)|$(w special)"
bad_format 'fixed(i=7)' "$(w f)"
bad_format 'fixed(i=60,f=10)' "$(w i)|$(w f)"         # width 71 > 64
bad_format 'fixed(i=-3,f=0)' "$(w i)|$(w f)"          # width -2
bad_format 'fixed(i=7,f=0,signed=maybe)' "$(w signed)"
bad_format 'fixed(i=7,f=0,overflow=clip)' "$(w overflow)"
bad_format 'log(k=0,lo=-3,hi=4,scale=1.36)' "$(w k)"
bad_format 'log(k=1,lo=-3,hi=4,scale=0)' "$(w scale)"
bad_format 'log(k=1,lo=-3,hi=4,scale=1/3)' "$(w scale)"     # no fractions
bad_format 'log(k=1,lo=-3,hi=4,scale=0x1p0)' "$(w scale)"   # no hex
bad_format 'log(k=1,lo=-3,hi=4,scale=1.36,offset=x)' "$(w offset)"
bad_format 'log(k=1,lo=4,hi=3,scale=1)' "$(w hi)|$(w lo)"
bad_format 'log(k=1,lo=-3,scale=1.36)' "$(w hi)"
bad_format 'midrise(s=2,lo=3,hi=3)' "$(w hi)|$(w lo)"
bad_format 'midrise(s=-1,lo=0,hi=3)' "$(w s)"
bad_format 'midrise(s=2,lo=0,hi=3,k=1)' "$(w k)"
bad_format 'Float(e=4,m=3)' ''                        # names are case-sensitive
bad_format 'FP8_E4M3' ''
bad_format 'fp7' ''
bad_format 'graham_O4(a=1)' ''
bad_format '' ''

# Rounding options.
expect_error "unknown rounding" $'1\n' '' "$(w rnd)|rounding" quantize --format fp16 --rounding rnd
expect_error "sr-bits 0" $'1\n' '' "sr-bits" quantize --format fp16 --rounding sr --sr-bits 0
expect_error "sr-bits 33" $'1\n' '' "sr-bits" quantize --format fp16 --rounding sr --sr-bits 33
# Graham formats define their own rounding: any mode but rne, and every sr option, is an error.
for g in graham_L4 graham_U4 graham_O4 'log(k=1,lo=0,hi=1,scale=1)'; do
  expect_error "$g --rounding rtz" $'1\n' '' "rtz|rounding" quantize --format "$g" --rounding rtz
  expect_error "$g --rounding sr" $'1\n' '' "$(w sr)|rounding" quantize --format "$g" --rounding sr
  expect_error "$g --seed" $'1\n' '' "seed" quantize --format "$g" --seed 1
  expect_error "$g --sr-bits" $'1\n' '' "sr-bits" quantize --format "$g" --sr-bits 8
done
printf '1\n' >"$TMP/words"
expect_error "graham_L4 --random-words" $'1\n' '' "random-words" quantize --format graham_L4 --random-words "$TMP/words"

# Random words: --seed with --random-words; a file shorter than the input (stdout keeps the lines
# that had a word); a word >= 2^32 (the message names its line); malformed words; a missing file.
printf '0\n0\n' >"$TMP/words"
expect_error "--seed with --random-words" $'1.03125\n' '' "seed|random-words" \
  quantize --format fp8_e4m3 --rounding sr --seed 1 --random-words "$TMP/words"
expect_error "words file too short" $'1.03125\n1.03125\n1.03125\n' "$(tsv '0x38 0x1p+0' '0x38 0x1p+0')" '' \
  quantize --format fp8_e4m3 --rounding sr --random-words "$TMP/words"
printf '0\n1\n4294967296\n0\n' >"$TMP/words"
run $'1.03125\n1.03125\n1.03125\n1.03125\n' quantize --format fp8_e4m3 --rounding sr --random-words "$TMP/words"
if [ "$RC" -eq 2 ] && grep -Eq "$(w 3)" <<<"$ERR"; then pass; else fail "word 2^32 on line 3: rc $RC, stderr: $ERR"; fi
printf '0\n\n0x100000000\n' >"$TMP/words"
run $'1.03125\n1.03125\n' quantize --format fp8_e4m3 --rounding sr --random-words "$TMP/words"
if [ "$RC" -eq 2 ] && grep -Eq "$(w 3)" <<<"$ERR"; then pass; else fail "word 0x100000000 on line 3: rc $RC, stderr: $ERR"; fi
for bad in abc -1 1.5 0x 12x; do
  printf '%s\n' "$bad" >"$TMP/words"
  run $'1.03125\n' quantize --format fp8_e4m3 --rounding sr --random-words "$TMP/words"
  if [ "$RC" -eq 2 ] && [ -n "$ERR" ]; then pass; else fail "malformed word '$bad': rc $RC, stderr: $ERR"; fi
done
expect_error "missing words file" $'1.03125\n' '' '' quantize --format fp8_e4m3 --rounding sr --random-words "$TMP/nonexistent"
expect_error "seed beyond 2^64-1" $'1\n' '' "seed" quantize --format fp8_e4m3 --rounding sr --seed 18446744073709551616
expect_error "negative seed" $'1\n' '' "seed" quantize --format fp8_e4m3 --rounding sr --seed -1

# Missing --format.
expect_error "no --format" $'1\n' '' "format" quantize

finish
