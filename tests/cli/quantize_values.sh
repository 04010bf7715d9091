#!/usr/bin/env bash
# `bitsim quantize --flags`: known values of every format family, worked out by hand from
# docs/spec/formats.md. Columns: input, code, value (C99 %a), flags
# (10 invalid, 04 overflow, 02 underflow, 01 inexact).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# fp8_e4m3 = float(e=4,m=3,special=fn): bias 7, emin -6, smallest subnormal 2^-9, largest
# 1.75*2^8 = 448 (code 0x7e), NaN 0x7f, no Inf, overflow saturates.
table "fp8_e4m3 rne" quantize --format fp8_e4m3 --flags <<'EOF'
1            0x38 0x1p+0    00
-1           0xb8 -0x1p+0   00
448          0x7e 0x1.cp+8  00
-448         0xfe -0x1.cp+8 00
240          0x77 0x1.ep+7  00
464          0x7e 0x1.cp+8  01
465          0x7e 0x1.cp+8  05
-465         0xfe -0x1.cp+8 05
1e6          0x7e 0x1.cp+8  05
0.1          0x1d 0x1.ap-4  01
0x1p-9       0x01 0x1p-9    00
0x1p-10      0x00 0x0p+0    03
0x1.8p-10    0x01 0x1p-9    03
0x1.2p-8     0x02 0x1p-8    03
0x1.fp-7     0x08 0x1p-6    01
0x1.ep-7     0x08 0x1p-6    03
0            0x00 0x0p+0    00
-0           0x80 -0x0p+0   00
inf          0x7e 0x1.cp+8  10
-inf         0xfe -0x1.cp+8 10
nan          0x7f nan       00
EOF
# 464 is the midpoint of 448 (index 0x7e, even) and 480 (index 0x7f, odd): ties to 448, no overflow.
# 465 rounds to 480 > 448: overflow, saturated. 0.1 = 12.8 * 2^-7 -> 13 * 2^-7 = 1.625 * 2^-4.
# 2^-10 is the midpoint of 0 and 2^-9: ties to 0 (index 0); tiny and inexact -> 03.
# 0x1.fp-7 = 2^-6 - 2^-11: on the subnormal grid t = 3/4 -> 2^-6; with precision 4 and unbounded
# exponent it is the midpoint of 1.111b*2^-7 (odd) and 2^-6 (even) -> 2^-6, not tiny -> 01.
# 0x1.ep-7 = 1.111b*2^-7 is exact with precision 4, so it is tiny, but rounds (tie, even) to 2^-6 -> 03.

# rtz: 500 rounds (unbounded exponent) to 480 > 448, an overflow; 470 rounds to 448, no overflow.
table "fp8_e4m3 rtz" quantize --format fp8_e4m3 --rounding rtz --flags <<'EOF'
500   0x7e 0x1.cp+8  05
470   0x7e 0x1.cp+8  01
-1.2  0xb9 -0x1.2p+0 01
inf   0x7e 0x1.cp+8  10
EOF

# fp8_e4m3fnuz = float(e=4,m=3,special=fnuz): bias 8, no -0, NaN = 0x80, largest 1.875*2^7 = 240.
table "fp8_e4m3fnuz" quantize --format fp8_e4m3fnuz --flags <<'EOF'
-0    0x00 0x0p+0   00
240   0x7f 0x1.ep+7 00
1000  0x7f 0x1.ep+7 05
1     0x40 0x1p+0   00
nan   0x80 nan      00
EOF

# fp8_e5m2 = float(e=5,m=2): bias 15, largest 1.75*2^15 = 57344 (0x7b), Inf 0x7c, NaN 0x7e.
# 61440 is the midpoint of 57344 (index 0x7b, odd) and 65536 (0x7c, even): overflow to inf.
table "fp8_e5m2 rne" quantize --format fp8_e5m2 --flags <<'EOF'
57344      0x7b 0x1.cp+15  00
61439      0x7b 0x1.cp+15  01
61440      0x7c inf        05
1e6        0x7c inf        05
-1e6       0xfc -inf       05
inf        0x7c inf        00
-inf       0xfc -inf       00
nan        0x7e nan        00
1.25       0x3d 0x1.4p+0   00
0x1p-16    0x01 0x1p-16    00
0x1p-17    0x00 0x0p+0     03
-0x1p-17   0x80 -0x0p+0    03
EOF
# Directed modes: toward zero (and toward the opposite infinity) gives the largest finite value, but
# an infinite input is not rounded and stays infinite.
table "fp8_e5m2 rtz" quantize --format fp8_e5m2 --rounding rtz --flags <<'EOF'
1e6   0x7b 0x1.cp+15  05
-1e6  0xfb -0x1.cp+15 05
inf   0x7c inf        00
EOF
table "fp8_e5m2 rup" quantize --format fp8_e5m2 --rounding rup --flags <<'EOF'
1e6        0x7c inf        05
-1e6       0xfb -0x1.cp+15 05
1.0000001  0x3d 0x1.4p+0   01
-1.1       0xbc -0x1p+0    01
-inf       0xfc -inf       00
EOF
table "fp8_e5m2 rdn" quantize --format fp8_e5m2 --rounding rdn --flags <<'EOF'
1e6         0x7b 0x1.cp+15  05
-1e6        0xfc -inf       05
-1.0000001  0xbd -0x1.4p+0  01
1.1         0x3c 0x1p+0     01
EOF
# overflow=saturate / overflow=nan on an IEEE-like format: Inf input -> policy value, only 10.
table "e5m2 saturate" quantize --format 'float(e=5,m=2,overflow=saturate)' --flags <<'EOF'
inf   0x7b 0x1.cp+15  10
1e6   0x7b 0x1.cp+15  05
EOF
table "e5m2 nan" quantize --format 'float(e=5,m=2,overflow=nan)' --flags <<'EOF'
-inf  0x7e nan 10
1e6   0x7e nan 05
EOF

# fp16: largest 65504 = 0x7bff; 65520 is the midpoint of 65504 (odd) and 65536 (even) -> inf.
# 0.1 -> 1.599609375 * 2^-4 (fraction 614 = 0x266). Above 2048 the spacing is 2: 2049 ties to 2048
# (fraction 0, even), 2051 ties to 2052 (fraction 2).
table "fp16" quantize --format fp16 --flags <<'EOF'
65504     0x7bff 0x1.ffcp+15  00
65519     0x7bff 0x1.ffcp+15  01
65520     0x7c00 inf          05
-65520    0xfc00 -inf         05
1         0x3c00 0x1p+0       00
0.1       0x2e66 0x1.998p-4   01
0x1p-24   0x0001 0x1p-24      00
0x1p-14   0x0400 0x1p-14      00
2049      0x6800 0x1p+11      01
2051      0x6802 0x1.008p+11  01
nan       0x7e00 nan          00
-0        0x8000 -0x0p+0      00
EOF

# bf16 = float(e=8,m=7): 1+2^-8 ties to 1 (fraction 0), 1+3*2^-8 ties to 1+2^-6 (fraction 2).
table "bf16 rne" quantize --format bf16 --flags <<'EOF'
1             0x3f80 0x1p+0       00
0x1.01p+0     0x3f80 0x1p+0       01
0x1.02p+0     0x3f81 0x1.02p+0    00
0x1.03p+0     0x3f82 0x1.04p+0    01
-0x1.01p+0    0xbf80 -0x1p+0      01
0x1.fep+127   0x7f7f 0x1.fep+127  00
0x1.ffp+127   0x7f80 inf          05
EOF
table "bf16 rna" quantize --format bf16 --rounding rna --flags <<'EOF'
0x1.01p+0     0x3f81 0x1.02p+0    01
-0x1.01p+0    0xbf81 -0x1.02p+0   01
EOF

# fp4_e2m1 = float(e=2,m=1,special=none): magnitudes 0 0.5 1 1.5 2 3 4 6 (codes 0..7).
# 5 ties between 4 (index 6) and 6 (index 7) -> 4; 7 ties between 6 (7) and 8 (8, even) -> overflow.
table "fp4_e2m1" quantize --format fp4_e2m1 --flags <<'EOF'
5     0x6 0x1p+2    01
6.5   0x7 0x1.8p+2  01
7     0x7 0x1.8p+2  05
-0.5  0x9 -0x1p-1   00
inf   0x7 0x1.8p+2  10
EOF

# float(e=3,m=0): bias 3, magnitudes 0, 2^-2, 2^-1, 1, 2, 4, 8 (index = exponent field), 7 = Inf.
# Ties go to the even magnitude index: 3 -> 2 (index 4), 6 -> 8 (index 6), 12 -> 8 (index 6 vs 7),
# 0.125 -> 0 (index 0 vs 1; exact with 1-bit precision, so tiny).
table "float(e=3,m=0)" quantize --format 'float(e=3,m=0)' --flags <<'EOF'
3      0x4 0x1p+1  01
6      0x6 0x1p+3  01
12     0x6 0x1p+3  01
13     0x7 inf     05
0.125  0x0 0x0p+0  03
EOF

# int8 = fixed(i=7,f=0): code range -128..127.
table "int8 rne" quantize --format int8 --flags <<'EOF'
2.5     0x02 0x1p+1    01
-2.5    0xfe -0x1p+1   01
3.5     0x04 0x1p+2    01
127     0x7f 0x1.fcp+6 00
127.5   0x7f 0x1.fcp+6 05
-128    0x80 -0x1p+7   00
-128.5  0x80 -0x1p+7   01
-129    0x80 -0x1p+7   05
-0      0x00 0x0p+0    00
0.4     0x00 0x0p+0    01
-0.4    0x00 0x0p+0    01
inf     0x7f 0x1.fcp+6 10
-inf    0x80 -0x1p+7   10
EOF
table "int8 rna" quantize --format int8 --rounding rna --flags <<'EOF'
2.5   0x03 0x1.8p+1  01
-2.5  0xfd -0x1.8p+1 01
2.4   0x02 0x1p+1    01
EOF
table "int8 rtz" quantize --format int8 --rounding rtz <<'EOF'
2.7   0x02 0x1p+1
-2.7  0xfe -0x1p+1
EOF
table "int8 rup" quantize --format int8 --rounding rup <<'EOF'
2.1   0x03 0x1.8p+1
-2.9  0xfe -0x1p+1
EOF
table "int8 rdn" quantize --format int8 --rounding rdn <<'EOF'
2.9   0x02 0x1p+1
-2.1  0xfd -0x1.8p+1
EOF

# uint8 = fixed(i=8,f=0,signed=no): 0..255. -0.5 ties to 0 (even); -0.6 rounds to -1: overflow.
table "uint8" quantize --format uint8 --flags <<'EOF'
255    0xff 0x1.fep+7  00
256    0xff 0x1.fep+7  05
3.5    0x04 0x1p+2     01
-0.5   0x00 0x0p+0     01
-0.6   0x00 0x0p+0     05
-1     0x00 0x0p+0     05
inf    0xff 0x1.fep+7  10
-inf   0x00 0x0p+0     10
EOF

# Wrap keeps the low width bits (two's complement): 130 -> 130-256 = -126, -130 -> 126.
table "int8 wrap" quantize --format 'fixed(i=7,f=0,overflow=wrap)' --flags <<'EOF'
130    0x82 -0x1.f8p+6 05
-130   0x7e 0x1.f8p+6  05
256    0x00 0x0p+0     05
127.5  0x80 -0x1p+7    05
100    0x64 0x1.9p+6   00
EOF
# fixed(i=3,f=4): value code/16, width 8. 8.5 -> code 136 -> wraps to -120 = -7.5.
table "fixed(i=3,f=4) wrap" quantize --format 'fixed(i=3,f=4,overflow=wrap)' --flags <<'EOF'
8.5       0x88 -0x1.ep+2  05
1.03125   0x10 0x1p+0     01
-0.0625   0xff -0x1p-4    00
EOF
# fixed(i=8,f=-2): value 4*code, width 7, codes -64..63. 10 -> y=2.5 -> 2; 14 -> 3.5 -> 4.
table "fixed(i=8,f=-2)" quantize --format 'fixed(i=8,f=-2)' --flags <<'EOF'
10    0x02 0x1p+3     01
14    0x04 0x1p+4     01
255   0x3f 0x1.f8p+7  05
-260  0x40 -0x1p+8    05
EOF
table "fixed(i=0,f=8,signed=no)" quantize --format 'fixed(i=0,f=8,signed=no)' --flags <<'EOF'
0.5   0x80 0x1p-1     00
1     0xff 0x1.fep-1  05
EOF

# graham_L4 = log(k=1,lo=-3,hi=4,scale=1.36): n = clamp(floor(log2(1.36|x|)), -3, 4), value 2^n,
# code = sign bit (8) | n+3. 1.36*1 -> n=0; 1.36*0.75 = 1.02 -> 0; 1.36*0.7 = 0.952 -> -1;
# 1.36*3 = 4.08 -> 2; 1.36*15 = 20.4 -> 4 (= hi, not clamped); 1.36*24 = 32.64 -> 5 (clamped);
# 1.36*0.125 = 0.17 -> -3 (= lo, exact); 1.36*0.01 -> -7 (clamped: underflow).
# 25/34 is the exact boundary of n=0; the doubles on either side of it (scale taken exactly as 34/25).
table "graham_L4" quantize --format graham_L4 --flags <<'EOF'
1       0x3 0x1p+0   00
0.75    0x3 0x1p+0   01
0.7     0x2 0x1p-1   01
-3      0xd -0x1p+2  01
15      0x7 0x1p+4   01
24      0x7 0x1p+4   05
100     0x7 0x1p+4   05
0.125   0x0 0x1p-3   00
0.01    0x0 0x1p-3   03
-0.01   0x8 -0x1p-3  03
0       none 0x0p+0  00
-0      none -0x0p+0 00
inf     0x7 0x1p+4   10
-inf    0xf -0x1p+4  10
0x1.7878787878787p-1  0x2 0x1p-1  01
0x1.7878787878788p-1  0x3 0x1p+0  01
EOF
# graham_L2 = log(k=1,lo=-1,hi=0,scale=1.034,offset=0.5): values 2^(n+1/2), irrational, printed as
# the nearest double (sqrt(2) = 0x1.6a09e667f3bcdp+0); width 2.
table "graham_L2" quantize --format graham_L2 --flags <<'EOF'
1    0x1 0x1.6a09e667f3bcdp+0   01
0.5  0x0 0x1.6a09e667f3bcdp-1   01
-1   0x3 -0x1.6a09e667f3bcdp+0  01
EOF
# graham_L5 = log(k=2,lo=-6,hi=9,scale=1.177): width 5. 1.177 -> 2*log2 = 0.47 -> n=0, value 1 exact;
# 1.5*1.177 = 1.7655 -> 2*log2 = 1.64 -> n=1, value sqrt(2); code n+6. 1 -> 1 is exact: flags 00.
table "graham_L5" quantize --format graham_L5 --flags <<'EOF'
1    0x06 0x1p+0                00
1.5  0x07 0x1.6a09e667f3bcdp+0  01
EOF

# graham_U4 = midrise(s=2,lo=-8,hi=7): value (1/2 + clamp(floor(2x), -8, 7)) / 2, code n+8.
table "graham_U4" quantize --format graham_U4 --flags <<'EOF'
1      0xa 0x1.4p+0   01
0      0x8 0x1p-2     01
-0     0x8 0x1p-2     01
-0.1   0x7 -0x1p-2    01
0.25   0x8 0x1p-2     00
3.75   0xf 0x1.ep+1   00
3.9    0xf 0x1.ep+1   01
4      0xf 0x1.ep+1   05
10     0xf 0x1.ep+1   05
-3.75  0x0 -0x1.ep+1  00
-4     0x0 -0x1.ep+1  01
-4.5   0x0 -0x1.ep+1  03
inf    0xf 0x1.ep+1   10
-inf   0x0 -0x1.ep+1  10
EOF

# graham_O4: value a^(n+1/2) - 1, a = 1.29, n = clamp(floor(log_a(1+|x|)), 0, 7); all values
# irrational (nearest doubles computed to 80 digits). The double nearest 0.29 lies below 0.29 (n=0);
# the next one is above (n=1). 1+100 >= a^8: clamped at 7 -> overflow.
table "graham_O4" quantize --format graham_O4 --flags <<'EOF'
0                      none 0x0p+0                   00
-0                     none -0x0p+0                  00
0.1                    0x0 0x1.1614b32382833p-3      01
-0.1                   0x8 -0x1.1614b32382833p-3     01
0x1.28f5c28f5c28fp-2   0x0 0x1.1614b32382833p-3      01
0x1.28f5c28f5c290p-2   0x1 0x1.dc5278aa1a94ap-2      01
6                      0x7 0x1.701e5231363eap+2      01
100                    0x7 0x1.701e5231363eap+2      05
inf                    0x7 0x1.701e5231363eap+2      10
-inf                   0xf -0x1.701e5231363eap+2     10
EOF

# graham_U5 = midrise(s=3,lo=-16,hi=15): 0 -> n=0, value 1/6; -1 -> n=-3, value -5/6. Neither is a
# double: the nearest double is printed (5/6 = 0x1.aaaa...p-1 rounds up in the last digit).
table "graham_U5" quantize --format graham_U5 --flags <<'EOF'
0     0x10 0x1.5555555555555p-3   01
-1    0x0d -0x1.aaaaaaaaaaaabp-1  01
EOF

# Directed rounding near zero (fp8_e4m3, smallest subnormal 2^-9): tiny and inexact -> 03.
# 0x1.fp-7 under rtz: format grid 7*2^-9 (t = 3/4, down); precision 4: 1.111b*2^-7 < 2^-6, tiny.
table "fp8_e4m3 rup tiny" quantize --format fp8_e4m3 --rounding rup --flags <<'EOF'
1e-30   0x01 0x1p-9   03
-1e-30  0x80 -0x0p+0  03
449     0x7e 0x1.cp+8 05
EOF
table "fp8_e4m3 rdn tiny" quantize --format fp8_e4m3 --rounding rdn --flags <<'EOF'
1e-30   0x00 0x0p+0   03
-1e-30  0x81 -0x1p-9  03
EOF
table "fp8_e4m3 rtz tiny" quantize --format fp8_e4m3 --rounding rtz --flags <<'EOF'
1e-30     0x00 0x0p+0    03
0x1.fp-7  0x07 0x1.cp-7  03
EOF
table "fp8_e4m3 rna" quantize --format fp8_e4m3 --rounding rna --flags <<'EOF'
1.0625    0x39 0x1.2p+0   01
-1.0625   0xb9 -0x1.2p+0  01
0x1p-10   0x01 0x1p-9     03
EOF
# fnuz has no -0: a negative result that rounds to zero is +0.
table "fp8_e4m3fnuz rtz" quantize --format fp8_e4m3fnuz --rounding rtz --flags <<'EOF'
-1e-30  0x00 0x0p+0  03
EOF
# subnormals=no: round as if subnormals existed, then flush a non-zero subnormal to zero (same sign).
# 0x1.fp-7 rounds to 2^-6 (normal, kept: flags as with subnormals); 0x1.8p-8 rounds to 3*2^-9: flushed.
table "flush to zero" quantize --format 'float(e=4,m=3,special=fn,subnormals=no)' --flags <<'EOF'
0x1.fp-7    0x08 0x1p-6   01
0x1.8p-8    0x00 0x0p+0   03
-0x1.8p-8   0x80 -0x0p+0  03
0x1p-6      0x08 0x1p-6   00
EOF
# special=fn with m=0: the whole all-ones exponent is NaN; float(e=3,m=0,special=fn) has bias 3 and
# largest 2^(6-3) = 8 (code 0x6), NaN 0x7.
table "float(e=3,m=0,special=fn)" quantize --format 'float(e=3,m=0,special=fn)' --flags <<'EOF'
100  0x6 0x1p+3  05
nan  0x7 nan     00
EOF
# A custom bias: float(e=4,m=3,bias=0): field 0 is subnormal (0.f * 2^1), so 1.0 = 0.100b * 2^1 is
# code 0x04; largest finite 1.875 * 2^14 = 30720 (0x77); the next grid point is 2^15 (beyond: Inf),
# midpoint 31744.
table "float bias=0" quantize --format 'float(e=4,m=3,bias=0)' --flags <<'EOF'
1      0x04 0x1p+0     00
30720  0x77 0x1.ep+14  00
31000  0x77 0x1.ep+14  01
32000  0x78 inf        05
EOF
# Formats wider than double go through the exact path; their codes are printed in full.
# float(e=15,m=112): bias 16383; 0.1 (as a double, 1.6 * 2^-4) has exponent field 16379 = 0x3ffb and
# the double's 52 fraction bits followed by 60 zero bits.
table "float(e=15,m=112)" quantize --format 'float(e=15,m=112)' --flags <<'EOF'
0.1   0x3ffb999999999999a000000000000000  0x1.999999999999ap-4  00
-1    0xbfff0000000000000000000000000000  -0x1p+0               00
EOF

# fnuz overflow: the grid continues past the largest finite index 0x7f; 248 ties between 0x7f (odd)
# and 0x80 (even, beyond): overflow, saturated. fp8_e5m2fnuz: bias 16, largest 1.75*2^15 at 0x7f.
table "fnuz overflow" quantize --format fp8_e4m3fnuz --flags <<'EOF'
248   0x7f 0x1.ep+7  05
247   0x7f 0x1.ep+7  01
EOF
table "fp8_e5m2fnuz" quantize --format fp8_e5m2fnuz --flags <<'EOF'
61440  0x7f 0x1.cp+15  05
1      0x40 0x1p+0     00
EOF

# Wrap of huge values keeps the low 8 bits: 10^10 and 10^300 are multiples of 256 (2^8 divides
# 10^10); 10^10+1 leaves 1; 2^53-1 leaves 255 = -1; -(2^53-1) leaves 1.
table "wrap huge" quantize --format 'fixed(i=7,f=0,overflow=wrap)' --flags <<'EOF'
1e10               0x00 0x0p+0   05
1e300              0x00 0x0p+0   05
10000000001        0x01 0x1p+0   05
9007199254740991   0xff -0x1p+0  05
-9007199254740991  0x01 0x1p+0   05
EOF
table "saturate huge" quantize --format int8 --flags <<'EOF'
1e300   0x7f 0x1.fcp+6 05
-1e300  0x80 -0x1p+7   05
EOF
# 64-bit fixed point. fixed(i=0,f=63): 1 saturates to code 2^63-1, value 1-2^-63, which is not a
# double: printed as the nearest double, 1. fixed(i=64,f=0,signed=no): 2^64-1 prints as 2^64.
table "fixed(i=0,f=63)" quantize --format 'fixed(i=0,f=63)' --flags <<'EOF'
0.5   0x4000000000000000  0x1p-1   00
-1    0x8000000000000000  -0x1p+0  00
1     0x7fffffffffffffff  0x1p+0   05
EOF
table "fixed(i=64,f=0,signed=no)" quantize --format 'fixed(i=64,f=0,signed=no)' --flags <<'EOF'
1e30  0xffffffffffffffff  0x1p+64  05
-1    0x0000000000000000  0x0p+0   05
EOF
# Values beyond the double range print as inf (codes stay exact): float(e=4,m=3,bias=-1010) has
# exponents 1011..1024. 1e308 = 1.1125...*2^1023 -> 1.125*2^1023 (field 13); the largest double
# (2-2^-52)*2^1023 rounds to 2^1024 (field 14, fraction 0), finite in the format.
table "values beyond double" quantize --format 'float(e=4,m=3,bias=-1010)' --flags <<'EOF'
1e308                     0x69 0x1.2p+1023  01
0x1.fffffffffffffp+1023   0x70 inf          01
-0x1.fffffffffffffp+1023  0xf0 -inf         01
EOF

# Format names: spaces ignored, keys in any order; rne may be given explicitly for Graham formats.
expect_ok "spaces and key order" $'448\n' "$(tsv '0x7e 0x1.cp+8')" quantize --format ' float( special = fn , m=3, e = 4 ) '
expect_ok "graham with --rounding rne" $'1\n' "$(tsv '0x3 0x1p+0')" quantize --format graham_L4 --rounding rne

finish
