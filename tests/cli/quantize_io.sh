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

# ---- --exact-input: the text's own value, rounded once ---------------------------------------------
# 2^63 - 1 is a value of fixed(i=63,f=0); read through a double it becomes 2^63, which overflows
# (saturates to the same code, flags 05). Exactly read it is the code 0x7fff...f with no flag.
expect_ok "2^63-1 through a double" $'9223372036854775807\n' "$(tsv '0x7fffffffffffffff 0x1p+63 05')" \
  quantize --format 'fixed(i=63,f=0)' --flags
expect_ok "2^63-1 exactly" $'9223372036854775807\n' "$(tsv '0x7fffffffffffffff 0x1p+63 00')" \
  quantize --format 'fixed(i=63,f=0)' --flags --exact-input
# 2^63 - 2 and 2^53 + 1: exact values of the format that a double cannot hold (nearest: 2^63, 2^53).
expect_ok "64-bit integers exactly" $'9223372036854775806\n9007199254740993\n' \
  "$(tsv '0x7ffffffffffffffe 0x1p+63 00' '0x0020000000000001 0x1p+53 00')" \
  quantize --format 'fixed(i=63,f=0)' --flags --exact-input
# 1 + 2^-11 + 10^-23: the nearest double is the fp16 tie 1 + 2^-11 (rne: even, 0x3c00); the exact value
# lies above the tie (rne: 0x3c01 = 1 + 2^-10). Inexact both ways.
expect_ok "above a tie through a double" $'1.00048828125000000000001\n' "$(tsv '0x3c00 0x1p+0 01')" quantize --format fp16 --flags
expect_ok "above a tie exactly" $'1.00048828125000000000001\n' "$(tsv '0x3c01 0x1.004p+0 01')" \
  quantize --format fp16 --flags --exact-input
# Hex text with more bits than a double: 1 + 2^-100 is a value of float(e=15,m=112) (fraction bit 12
# from the bottom: code 0x3fff, then 0...01000).
expect_ok "hex beyond a double, exactly" $'0x1.0000000000000000000000001p0\n' \
  "$(tsv '0x3fff0000000000000000000000001000 0x1p+0 00')" quantize --format 'float(e=15,m=112)' --flags --exact-input
# The other forms: -0 keeps its sign, nan, -inf; 1e-9999 underflows to +0 (underflow + inexact).
expect_ok "exact specials" $'-0\nnan\n-inf\n1e-9999\n' "$(tsv '0x8000 -0x0p+0 00' '0x7e00 nan 00' '0xfc00 -inf 00' '0x0000 0x0p+0 03')" \
  quantize --format fp16 --flags --exact-input
expect_error "exact: not a number" $'1\n1/3\n' "$(tsv '0x3c00 0x1p+0')" "line 2.*1/3" quantize --format fp16 --exact-input
expect_error "exact with --testfloat" '' '' "--testfloat" quantize --format fp16 --exact-input --testfloat
expect_error "exact with binary input" '' '' "--exact-input.*f32" quantize --format fp16 --exact-input --input-format f32

# ---- binary input and output: raw floats and numpy .npy ----------------------------------------------
PY=/usr/bin/python3
# f32: 1.0, 0.1f, 300.0 (little-endian) -> fp8_e4m3 codes 0x38, 0x1d (0.1f ~ 0x1.99999ap-4 -> 0x1.ap-4),
# 0x79 (300 lies between 288 = 0x1.2p+8 and 320, nearer 288).
printf '\x00\x00\x80\x3f\xcd\xcc\xcc\x3d\x00\x00\x96\x43' >"$TMP/three.f32"
run_from "$TMP/three.f32" quantize --format fp8_e4m3 --input-format f32 --flags
check "f32 input: three lines (rc $RC: $ERR)" test "$(cat "$TMP/out")" = "$(tsv '0x38 0x1p+0 00' '0x1d 0x1.ap-4 01' '0x79 0x1.2p+8 01')"
printf '\x00\x00\x80' >"$TMP/short.f32"
run_from "$TMP/short.f32" quantize --format fp8_e4m3 --input-format f32
check "f32 input of 3 bytes: exit 2, says so" bash -c "[ $RC -eq 2 ] && grep -q '3 bytes is not a whole number of 4-byte values' <<<'$ERR'"
# npy in, npy out: a 2x3 float32 array keeps its shape; codes as uint8 (8-bit format), values as float64.
"$PY" -c "import numpy as np, sys; np.save(sys.stdout.buffer, np.array([[1.0, 0.1, 300], [-2.5, 1e-9, 65504]], dtype=np.float32))" >"$TMP/x.npy"
run_from "$TMP/x.npy" quantize --format fp8_e4m3 --input-format npy --output-format codes-npy
cp "$TMP/out" "$TMP/codes.npy"
check "npy -> codes-npy: exit 0 ($ERR)" test "$RC" -eq 0
# -2.5 -> 0xc2 (sign, 1.25 * 2^1); 1e-9 -> +0; 65504 -> saturates at 448 = 0x7e.
check "npy -> codes-npy: uint8, shape (2, 3), the codes" "$PY" -c "
import numpy as np, sys
a = np.load(sys.argv[1])
assert a.dtype == np.uint8 and a.shape == (2, 3), (a.dtype, a.shape)
assert a.tolist() == [[0x38, 0x1d, 0x79], [0xc2, 0x00, 0x7e]], a.tolist()" "$TMP/codes.npy"
run_from "$TMP/x.npy" quantize --format bf16 --input-format npy --output-format values-npy
cp "$TMP/out" "$TMP/values.npy"
# bf16 keeps 8 significant bits: every value equals the float32 value with its low 16 bits rounded
# to nearest even (computed here with integer arithmetic on the float32 bit patterns).
check "npy -> values-npy (bf16): float64, shape (2, 3), equal to the bit-trick rounding" "$PY" -c "
import numpy as np, sys
x = np.load(sys.argv[1]); v = np.load(sys.argv[2])
assert v.dtype == np.float64 and v.shape == (2, 3), (v.dtype, v.shape)
b = x.view(np.uint32).astype(np.uint64)
r = ((b + 0x7fff + ((b >> 16) & 1)) >> 16) << 16
assert (r.astype(np.uint32).view(np.float32).astype(np.float64) == v).all(), (v, r)" "$TMP/x.npy" "$TMP/values.npy"
# Fortran order and float64 input: the order flag is kept, the elements stay in storage order.
"$PY" -c "import numpy as np, sys; np.save(sys.stdout.buffer, np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3) * 1.5))" >"$TMP/f.npy"
run_from "$TMP/f.npy" quantize --format fp16 --input-format npy --output-format codes-npy
cp "$TMP/out" "$TMP/fcodes.npy"
check "npy Fortran order: codes of the same array" "$PY" -c "
import numpy as np, sys
x = np.load(sys.argv[1]); c = np.load(sys.argv[2])
assert c.dtype == np.uint16 and c.shape == x.shape and np.isfortran(c)
assert (c == x.astype(np.float16).view(np.uint16)).all()" "$TMP/f.npy" "$TMP/fcodes.npy"
printf 'not an npy file' >"$TMP/bad.npy"
run_from "$TMP/bad.npy" quantize --format fp16 --input-format npy
check "npy: not an npy file: exit 2, named" bash -c "[ $RC -eq 2 ] && grep -q 'not a .npy file' <<<'$ERR'"
"$PY" -c "import numpy as np, sys; np.save(sys.stdout.buffer, np.arange(4, dtype=np.int32))" >"$TMP/int.npy"
run_from "$TMP/int.npy" quantize --format fp16 --input-format npy
check "npy: int32 refused, naming the dtype ($ERR)" bash -c "[ $RC -eq 2 ] && grep -q \"dtype '<i4'\" '$TMP/err'"
# A NaN into int8 names the element (index in storage order).
"$PY" -c "import numpy as np, sys; np.save(sys.stdout.buffer, np.array([1, 2, np.nan], dtype=np.float32))" >"$TMP/nan.npy"
run_from "$TMP/nan.npy" quantize --format int8 --input-format npy --output-format codes-npy
check "npy: NaN into int8: exit 2, element 2, nothing on stdout" bash -c "[ $RC -eq 2 ] && grep -q 'element 2' '$TMP/err' && [ ! -s '$TMP/out' ]"
expect_error "codes-npy with --flags" '' '' "--flags" quantize --format fp16 --output-format codes-npy --flags
expect_error "unknown input format" '' '' "--input-format 'f16'" quantize --format fp16 --input-format f16

finish
