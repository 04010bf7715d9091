#!/usr/bin/env bash
# `bitsim quantize`: reading numbers, the output columns, --testfloat, and bad input lines.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Numbers as strtod reads them (fp16 results): hex floats, signs, inf/infinity/nan in any case,
# surrounding spaces, 1e400 = inf (an infinite input, so no overflow flag), 1e-400 = +0.
expect_ok "number syntax" $'0x1.8p+1\n  inf \n-Infinity\nNAN\n-nan\n1e400\n-1e400\n+2\n.5\n5.\n1e0\n0X1P-24\n1e-400\n' \
  "$(tsv '0x4200 0x1.8p+1 00' '0x7c00 inf 00' '0xfc00 -inf 00' '0x7e00 nan 00' '0x7e00 nan 00' \
         '0x7c00 inf 00' '0xfc00 -inf 00' '0x4000 0x1p+1 00' '0x3800 0x1p-1 00' '0x4500 0x1.4p+2 00' \
         '0x3c00 0x1p+0 00' '0x0001 0x1p-24 00' '0x0000 0x0p+0 00')" \
  quantize --format fp16 --flags

# Blank lines (empty or spaces only) are skipped and produce no output line.
expect_ok "blank lines" $'\n1\n\n   \n2\n\n' "$(tsv '0x38 0x1p+0' '0x40 0x1p+1')" quantize --format fp8_e4m3
expect_ok "no input" '' '' quantize --format fp8_e4m3
expect_ok "last line without newline" '3' "$(tsv '0x44 0x1.8p+1')" quantize --format fp8_e4m3
# Code width: ceil(width/4) hex digits (width 4 -> 1, 5 -> 2, 7 -> 2, 16 -> 4, 32 -> 8, 64 -> 16).
expect_ok "code widths" $'1\n' "$(tsv '0x3f800000 0x1p+0')" quantize --format fp32
expect_ok "code width 64" $'-1\n' "$(tsv '0xbff0000000000000 -0x1p+0')" quantize --format fp64
expect_ok "code width 7" $'-4\n' "$(tsv '0x7f -0x1p+2')" quantize --format 'fixed(i=8,f=-2)'

# --testfloat: INPUT (binary64 bits, 16 upper-case hex digits) RESULT (ceil(width/4) upper-case
# digits) FLAGS (2 upper-case digits), space-separated, no 0x.
# 465 = 1.81640625 * 2^8: exponent 0x407, fraction 0xd1 followed by zeros.
table "testfloat fp8_e4m3" quantize --format fp8_e4m3 --testfloat <<'EOF'
1      3FF0000000000000 38 00
465    407D100000000000 7E 05
-inf   FFF0000000000000 FE 10
-0     8000000000000000 80 00
0.1    3FB999999999999A 1D 01
nan    7FF8000000000000 7F 00
EOF
table "testfloat fp16" quantize --format fp16 --testfloat <<'EOF'
65520  40EFFE0000000000 7C00 05
0x1p-25  3E60000000000000 0000 03
EOF
table "testfloat int8" quantize --format int8 --testfloat <<'EOF'
2.5    4004000000000000 02 01
-129   C060200000000000 80 05
EOF
# A Graham zero has no code: RESULT is `none`.
table "testfloat graham_L4" quantize --format graham_L4 --testfloat <<'EOF'
0      0000000000000000 none 00
1      3FF0000000000000 3 00
-0.01  BF847AE147AE147B 8 03
EOF

# A line that is not a number: exit 2, a message naming the line (physical line number, blank
# lines counted), and on stdout exactly the lines of the numbers before it.
expect_error "bad number on line 4" $'1\n\n2\nabc\n3\n' "$(tsv '0x3c00 0x1p+0' '0x4000 0x1p+1')" '(^|[^0-9])4([^0-9]|$)' \
  quantize --format fp16
expect_error "bad number on line 1" $'x1\n2\n' '' '(^|[^0-9])1([^0-9]|$)' quantize --format fp16
for bad in '1.5x' '1 2' '0x' '--1' 'inf5' '1e' '1,5' 'infinit' 'nan1' '0x1.8q+1' '++1'; do
  expect_error "bad number '$bad'" $'7\n'"$bad"$'\n8\n' "$(tsv '0x4700 0x1.cp+2')" '(^|[^0-9])2([^0-9]|$)' \
    quantize --format fp16
done

# Inputs a format cannot take, on line 2: exit 2, line 1's result on stdout, a message naming line 2.
# Line 1 is 1 in each format: fp4_e2m1 bias 1 (0 01 0), fp6_e3m2 bias 3 (0 011 00), fp6_e2m3 bias 1
# (0 01 000), float(e=4,m=0) bias 7 (0 0111), fixed(i=3,f=4) code 16, graham_U4 (1/2 + 2)/2, and
# graham_O4 n = 2 (1.29^2 <= 2 < 1.29^3), value 1.29^2.5 - 1.
while read -r f first; do
  expect_error "NaN into $f" $'1\nnan\n5\n' "$(tsv "$first")" '(^|[^0-9])2([^0-9]|$)' quantize --format "$f"
done <<'EOF'
int8            0x01 0x1p+0
uint8           0x01 0x1p+0
fp4_e2m1        0x2 0x1p+0
fp6_e3m2        0x0c 0x1p+0
fp6_e2m3        0x08 0x1p+0
float(e=4,m=0)  0x07 0x1p+0
fixed(i=3,f=4)  0x10 0x1p+0
graham_L4       0x3 0x1p+0
graham_U4       0xa 0x1.4p+0
graham_O4       0x2 0x1.c7b531ab282f4p-1
EOF
expect_error "Inf into fixed wrap" $'5\ninf\n' "$(tsv '0x05 0x1.4p+2')" '(^|[^0-9])2([^0-9]|$)' \
  quantize --format 'fixed(i=7,f=0,overflow=wrap)'
expect_error "-Inf into fixed wrap" $'5\n-inf\n' "$(tsv '0x05 0x1.4p+2')" '(^|[^0-9])2([^0-9]|$)' \
  quantize --format 'fixed(i=7,f=0,overflow=wrap)'

finish
