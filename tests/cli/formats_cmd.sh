#!/usr/bin/env bash
# `bitsim formats list | describe` (formats.md section 4) and the help screens.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# ---- formats list: every alias of the spec table, with its constructor form ----------------------
run '' formats list
if [ "$RC" -eq 0 ]; then pass; else fail "formats list: exit status $RC"; fi
# alias -> constructor, copied from the table in docs/spec/formats.md
while read -r alias ctor; do
  line=$(grep -E "^[[:space:]]*$alias([[:space:]]|$)" <<<"$OUT" || true)
  if [ -z "$line" ]; then fail "formats list: alias $alias missing"; continue; fi
  if [ -n "$ctor" ] && ! tr -d ' \t' <<<"$line" | grep -qF -- "$ctor"; then
    fail "formats list: $alias does not show $ctor: $line"
    continue
  fi
  pass
done <<'EOF'
fp64 float(e=11,m=52)
fp32 float(e=8,m=23)
fp16 float(e=5,m=10)
bf16 float(e=8,m=7)
tf32 float(e=8,m=10)
fp8_e5m2 float(e=5,m=2)
fp8_e4m3 float(e=4,m=3,special=fn)
fp8_e4m3fnuz float(e=4,m=3,special=fnuz)
fp8_e5m2fnuz float(e=5,m=2,special=fnuz)
fp6_e3m2 float(e=3,m=2,special=none)
fp6_e2m3 float(e=2,m=3,special=none)
fp4_e2m1 float(e=2,m=1,special=none)
int8 fixed(i=7,f=0)
int16 fixed(i=15,f=0)
int32 fixed(i=31,f=0)
uint8 fixed(i=8,f=0,signed=no)
e8m0 float(e=8,m=0,bias=127,special=fnuz,signed=no,zero=no)
graham_L2 log(k=1,lo=-1,hi=0,scale=1.034,offset=0.5)
graham_L3 log(k=1,lo=-1,hi=2,scale=1.316)
graham_L4 log(k=1,lo=-3,hi=4,scale=1.36)
graham_L5 log(k=2,lo=-6,hi=9,scale=1.177)
graham_U4 midrise(s=2,lo=-8,hi=7)
graham_U5 midrise(s=3,lo=-16,hi=15)
graham_U8 midrise(s=8,lo=-128,hi=127)
graham_O4
binary8p1se float(e=7,m=0,special=inuz)
binary8p3se float(e=5,m=2,special=inuz)
binary8p4se float(e=4,m=3,special=inuz)
binary8p7se float(e=1,m=6,special=inuz)
binary8p4sf float(e=4,m=3,special=fnuz)
binary8p5sf float(e=3,m=4,special=fnuz)
binary8p1uf float(e=8,m=0,special=fnuz,signed=no)
binary8p3ue float(e=6,m=2,special=inuz,signed=no)
binary8p8ue float(e=1,m=7,special=inuz,signed=no)
EOF

# ---- formats describe -------------------------------------------------------------------------------
# fp8_e4m3: largest finite 448, smallest subnormal 2^-9, smallest normal 2^-6, epsilon 2^-3, and a
# table of all 256 codes (0x7e = 448, 0x7f = NaN, 0x01 = 2^-9, 0x80 = -0).
run '' formats describe fp8_e4m3
if [ "$RC" -eq 0 ] && [ -z "$ERR" ]; then pass; else fail "describe fp8_e4m3: exit status $RC, stderr $ERR"; fi
field() { grep -iE "^[[:space:]]*$1" <<<"$OUT" || true; }
has() {  # has NAME TEXT ERE
  if grep -Eq -- "$3" <<<"$2"; then pass; else fail "describe: $1: '$2' does not match /$3/"; fi
}
has "largest finite" "$(field 'largest finite')" '(^|[^0-9.])448([^0-9.]|$)|0x1\.cp\+8'
has "smallest subnormal" "$(field 'smallest subnormal')" '0x1p-9|2\^-9|0\.001953125'
has "smallest normal" "$(field 'smallest normal')" '0x1p-6|2\^-6|0\.015625'
has "machine epsilon" "$(field '(machine )?epsilon')" '0x1p-3|2\^-3|0\.125'
has "width" "$(field width)" '(^|[^0-9])8([^0-9]|$)'
has "bias" "$(field bias)" '(^|[^0-9])7([^0-9]|$)'
rows=$(grep -E '^0x[0-9a-f]{2}[[:space:]]' <<<"$OUT" || true)
if [ "$(grep -c . <<<"$rows")" -eq 256 ]; then pass; else fail "describe fp8_e4m3: $(grep -c . <<<"$rows") code rows, expected 256"; fi
row() { grep -E "^$1[[:space:]]" <<<"$rows" || true; }
has "row 0x7e" "$(row 0x7e)" '(^|[^0-9.])448([^0-9.]|$)|0x1\.cp\+8'
has "row 0x7f" "$(row 0x7f)" '(^|[^a-z])nan'
has "row 0xff" "$(row 0xff)" '(^|[^a-z])nan'
has "row 0x01" "$(row 0x01)" '0x1p-9|0\.001953125'
has "row 0x38" "$(row 0x38)" '0x1p\+0'
has "row 0x80" "$(row 0x80)" '-0x0p\+0|-0([^.0-9x]|$)'
has "row 0xfe" "$(row 0xfe)" '-0x1\.cp\+8|-448'

# fp8_e5m2: largest 57344, Inf 0x7c / 0xfc; fp16 is wider than 8 bits: no code table.
run '' formats describe fp8_e5m2
has "e5m2 largest" "$(field 'largest finite')" '57344|0x1\.cp\+15'
has "e5m2 inf" "$(grep -iE 'inf' <<<"$OUT" | grep -E '0x7c' || true)" '0xfc'
run '' formats describe fp16
if [ "$RC" -eq 0 ] && ! grep -Eq '^0x[0-9a-f]{4}[[:space:]]' <<<"$OUT"; then pass; else fail "describe fp16: rc $RC or a code table"; fi
has "fp16 largest" "$(field 'largest finite')" '65504|0x1\.ffcp\+15'
# Narrow Graham and fixed formats also get their table: 16 codes for graham_L4, 256 for int8.
run '' formats describe graham_L4
if [ "$RC" -eq 0 ] && [ "$(grep -cE '^0x[0-9a-f][[:space:]]' <<<"$OUT")" -eq 16 ]; then pass; else fail "describe graham_L4: rc $RC"$'\n'"$OUT"; fi
run '' formats describe int8
if [ "$RC" -eq 0 ] && [ "$(grep -cE '^0x[0-9a-f]{2}[[:space:]]' <<<"$OUT")" -eq 256 ]; then pass; else fail "describe int8: rc $RC"; fi
expect_error "describe invalid format" '' '' "$(printf '(^|[^A-Za-z])m([^A-Za-z]|$)')" formats describe 'float(e=4)'

# ---- edge formats: every line of describe, derived by hand ----------------------------------------------
# describe_is NAME SPEC <<EOF ... EOF: the whole output of `formats describe SPEC` (exit 0, empty stderr).
describe_is() {
  local want
  want=$(cat)
  run '' formats describe "$2"
  if [ "$RC" -ne 0 ] || [ -n "$ERR" ]; then fail "describe $1: exit status $RC, stderr $ERR"; return; fi
  if [ "$OUT" = "$want" ]; then pass; else fail "describe $1:"$'\n'"$(diff <(echo "$want") <(echo "$OUT") | head -20)"; fi
}
# float(e=1,m=1): bias 2^0-1 = 0, emin = 1. Exponent field 0 holds the subnormals f/2 * 2^1 = f: 0x1 = 1.
# Field 1 (all ones) is Inf (0x2) and NaN (0x3; canonical: top fraction bit). No normal number exists,
# so neither the smallest normal nor epsilon (2^-m, the spacing of normal numbers at 1) is stated.
describe_is "e=1 ieee, subnormals only" 'float(e=1,m=1)' <<'EOF'
format              float(e=1,m=1)
kind                float
width               3 bits (1 sign, 1 exponent, 1 fraction)
bias                0
subnormals          yes
special             ieee (exponent all ones: Inf if fraction 0, else NaN)
overflow            inf
smallest subnormal  0x1p+0 (1)
smallest normal     none (no normal numbers: the only non-zero exponent field is Inf and NaN)
largest finite      0x1p+0 (1)
machine epsilon     none (no normal numbers: the only non-zero exponent field is Inf and NaN)
+Inf / -Inf         0x2 / 0x6
NaN                 exponent all ones, fraction != 0 (canonical 0x3)

code  value (hex float of the nearest double, decimal)
0x0  0x0p+0                     0
0x1  0x1p+0                     1
0x2  inf
0x3  nan
0x4  -0x0p+0                    -0
0x5  -0x1p+0                    -1
0x6  -inf
0x7  nan
EOF
# float(e=1,m=0,special=fnuz): bias 2^(e-1) = 1, emin = 0; field 1 is the normal 2^0 = 1, no fraction bits
# so no subnormals; 0x2 (sign bit alone) is the only NaN, 0x3 = -1; epsilon 2^-0 = 1.
describe_is "e=1 fnuz" 'float(e=1,m=0,special=fnuz)' <<'EOF'
format              float(e=1,m=0,special=fnuz)
kind                float
width               2 bits (1 sign, 1 exponent, 0 fraction)
bias                1
subnormals          yes
special             fnuz (no Inf, no -0; 1 followed by zeros is the only NaN)
overflow            saturate
smallest subnormal  none
smallest normal     0x1p+0 (1)
largest finite      0x1p+0 (1)
machine epsilon     0x1p+0 (1)
+Inf / -Inf         none
NaN                 0x2 (the only one)

code  value (hex float of the nearest double, decimal)
0x0  0x0p+0                     0
0x1  0x1p+0                     1
0x2  nan
0x3  -0x1p+0                    -1
EOF
# IEEE P3109 binary4p2se (2 exponent bits, 1 fraction bit, bias 2): the values of the working group's
# value table Binary4p2se.csv, 0x0.4p+0 (subnormal) to 0x1p+1, Inf at 0x7, NaN at 0x8, -Inf at 0xf.
describe_is "binary4p2se" 'binary4p2se' <<'EOF'
format              binary4p2se = float(e=2,m=1,special=inuz)
kind                float
width               4 bits (1 sign, 2 exponent, 1 fraction)
bias                2
subnormals          yes
special             inuz (no -0; 1 followed by zeros is the only NaN; all ones but the sign is Inf)
overflow            inf
smallest subnormal  0x1p-2 (0.25)
smallest normal     0x1p-1 (0.5)
largest finite      0x1p+1 (2)
machine epsilon     0x1p-1 (0.5)
+Inf / -Inf         0x7 / 0xf
NaN                 0x8 (the only one)

code  value (hex float of the nearest double, decimal)
0x0  0x0p+0                     0
0x1  0x1p-2                     0.25
0x2  0x1p-1                     0.5
0x3  0x1.8p-1                   0.75
0x4  0x1p+0                     1
0x5  0x1.8p+0                   1.5
0x6  0x1p+1                     2
0x7  inf
0x8  nan
0x9  -0x1p-2                    -0.25
0xa  -0x1p-1                    -0.5
0xb  -0x1.8p-1                  -0.75
0xc  -0x1p+0                    -1
0xd  -0x1.8p+0                  -1.5
0xe  -0x1p+1                    -2
0xf  -inf
EOF
# float(e=1,m=0,special=none): bias 0, emin 1: field 1 is 2^1 = 2; every code is a number.
describe_is "e=1 none" 'float(e=1,m=0,special=none)' <<'EOF'
format              float(e=1,m=0,special=none)
kind                float
width               2 bits (1 sign, 1 exponent, 0 fraction)
bias                0
subnormals          yes
special             none (every encoding is a finite number)
overflow            saturate
smallest subnormal  none
smallest normal     0x1p+1 (2)
largest finite      0x1p+1 (2)
machine epsilon     0x1p+0 (1)
+Inf / -Inf         none
NaN                 none

code  value (hex float of the nearest double, decimal)
0x0  0x0p+0                     0
0x1  0x1p+1                     2
0x2  -0x0p+0                    -0
0x3  -0x1p+1                    -2
EOF
# fixed(i=0,f=0): one sign bit, two's complement: codes 0 (0) and 1 (-1).
describe_is "1-bit fixed" 'fixed(i=0,f=0)' <<'EOF'
format              fixed(i=0,f=0)
kind                fixed point (signed, two's complement)
width               1 bit (1 sign, 0 integer, 0 fraction)
value               code * 2^0
overflow            saturate
quantum (epsilon)   0x1p+0 (1)
most negative       -0x1p+0 (-1)
largest             0x0p+0 (0)
+Inf / -Inf / NaN   none (Inf saturates; NaN is an error)

code  value (hex float of the nearest double, decimal)
0x0  0x0p+0                     0
0x1  -0x1p+0                    -1
EOF
# Formats that hold no finite non-zero value are refused, naming what is missing.
for spec in 'float(e=1,m=0)' 'float(e=1,m=0,special=fn)' 'float(e=1,m=2,subnormals=no)'; do
  expect_error "describe $spec" '' '' 'no finite non-zero value' formats describe "$spec"
done

# ---- help -----------------------------------------------------------------------------------------
run '' --help
if [ "$RC" -eq 0 ] && grep -q quantize <<<"$OUT" && grep -q formats <<<"$OUT"; then pass; else fail "bitsim --help: rc $RC"; fi
run '' quantize --help
if [ "$RC" -eq 0 ] && grep -q -- --format <<<"$OUT" && grep -q -- --rounding <<<"$OUT"; then pass; else fail "bitsim quantize --help: rc $RC"; fi
run '' formats --help
if [ "$RC" -eq 0 ] && grep -q describe <<<"$OUT"; then pass; else fail "bitsim formats --help: rc $RC"; fi

# Every command's help, found by walking the "Subcommands:" lists (a new command is covered without
# editing this test): usage says "bitsim", at least one example, and the exit statuses.
help_of() { "$BITSIM" "$@" --help 2>&1; }
subcommands_of() { awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' <<<"$(help_of "$@")"; }
commands=()
for top in $(subcommands_of); do
  commands+=("$top")
  for sub in $(subcommands_of "$top"); do commands+=("$top $sub"); done
done
check "help: found the commands (${#commands[@]})" test "${#commands[@]}" -ge 17
for c in "" "${commands[@]}"; do
  # shellcheck disable=SC2086
  h=$(help_of $c)
  grep -q '^Usage: bitsim' <<<"$h" && pass || fail "help of 'bitsim $c': the usage line does not say bitsim"
  grep -q '^Examples\?: ' <<<"$h" && pass || fail "help of 'bitsim $c': no example"
  grep -q '^Exit status: 0' <<<"$h" && pass || fail "help of 'bitsim $c': no exit statuses"
done
# Unknown words are named, with the closest known one.
expect_error "unknown command" '' '' "unknown command 'quantise'; did you mean quantize\\?" quantise --format fp16
expect_error "misspelt option" '' '' "unknown option --fromat for 'bitsim quantize'; did you mean --format\\?" quantize --fromat fp16
expect_error "unknown subcommand" '' '' "unknown command 'gemn' for 'bitsim golden'; did you mean gemm\\?" golden gemn
expect_error "option of another command" '' '' "unknown option --chunk for 'bitsim quantize'" quantize --format fp16 --chunk 3
expect_error "help hint names the command" '' '' "Run 'bitsim check --help'" check mul --format fp16 --explian 3 x.hex

finish
