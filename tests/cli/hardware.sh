#!/usr/bin/env bash
# The hardware-verification commands: `bitsim op`, `bitsim vectors` and `bitsim check`.
# Expected values are derived by hand from docs/spec/formats.md and IEEE 754 (the derivation is in the
# comment beside each), and whole vector files are checked against an independent model of fp8_e4m3
# multiplication written below in Python with exact fractions.
#
# fp8_e4m3 = float(e=4,m=3,special=fn): bias 7, code s|eeee|mmm, normal (8+m)*2^(e-10), subnormal m*2^-9,
# no Inf, 0x7f/0xff the only NaNs (0x7f canonical), largest 448 = 0x7e, overflow saturates.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "hardware.sh: python3 is needed for the reference model" >&2; exit 1; }

# refused NAME STDIN EXPECTED_STDOUT ERE ARGS...: expect_error, plus no sign of a crash on stderr.
refused() {
  local name=$1
  expect_error "$@"
  if grep -Eq 'terminate called|Sanitizer|runtime error:|Segmentation|Aborted|core dumped' <<<"$ERR"; then
    fail "$name: crash signature: $ERR"
  fi
}

# exit_is NAME WANT: the last run's exit status.
exit_is() { if [ "$RC" -eq "$2" ]; then pass; else fail "$1: exit status $RC, expected $2 (stderr: $ERR)"; fi; }

# same NAME WANT GOT: equal texts; else the first lines of their diff (- expected, + got).
same() {
  if [ "$2" = "$3" ]; then pass; return 0; fi
  fail "$1: expected / got:"$'\n'"$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | grep '^[<>]' | head -n 12 |
    sed 's/^</-/; s/^>/+/')"
}

# gen NAME FILE ARGS...: `bitsim ARGS... >FILE`, which must succeed with an empty stderr.
gen() {
  local name=$1 file=$2 rc=0
  shift 2
  "$BITSIM" "$@" >"$file" 2>"$TMP/gen.err" || rc=$?
  if [ "$rc" -ne 0 ] || [ -s "$TMP/gen.err" ]; then fail "$name: exit status $rc, stderr: $(cat "$TMP/gen.err")"; fi
  return 0
}

# The reference model: fp8_e4m3 multiplication (rne or rtz; tininess after or before rounding) from the
# format definition alone. Reads vector lines "A B R F"; prints "LINES RESULT_DIFFS FLAG_ONLY_DIFFS"
# (lines whose result differs, lines whose flags alone differ) and the first differences on stderr.
cat >"$TMP/model.py" <<'PYEOF'
import sys
from fractions import Fraction as Q
def dec(c):  # (sign, magnitude) or None for NaN
    s, E, F = c >> 7, (c >> 3) & 15, c & 7
    if E == 15 and F == 7: return None
    return s, (Q(F, 512) if E == 0 else Q(8 + F) * Q(2) ** (E - 10))
def log2floor(x):
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Q(2) ** e > x: e -= 1
    while Q(2) ** (e + 1) <= x: e += 1
    return e
def rnd(x, q, mode):  # x >= 0 to a multiple of q
    n = x / q; k = n.numerator // n.denominator; r = n - k
    if mode == 'rne' and (r > Q(1, 2) or (r == Q(1, 2) and k % 2)): k += 1
    return k * q
def mul(a, b, mode, tininess):
    da, db = dec(a), dec(b)
    if da is None or db is None: return 0x7f, 0          # canonical NaN, no sNaN in fn formats
    s, x = da[0] ^ db[0], da[1] * db[1]
    if x == 0: return s << 7, 0
    e = log2floor(x)
    v = rnd(x, Q(2) ** (max(e, -6) - 3), mode)           # 3 fraction bits, subnormal quantum 2^-9
    if v > 448: return (s << 7) | 0x7e, 0x05              # overflow: saturate; overflow+inexact
    inexact = v != x
    if tininess == 'before': tiny = x < Q(1, 64)
    else: tiny = rnd(x, Q(2) ** (e - 3), mode) < Q(1, 64)  # rounded with unbounded exponent
    flags = (1 if inexact else 0) | (2 if inexact and tiny else 0)
    if v == 0: return s << 7, flags
    ev = log2floor(v)
    code = int(v * 512) if ev < -6 else ((ev + 7) << 3) | int(v / Q(2) ** (ev - 3) - 8)
    return (s << 7) | code, flags
mode, tininess = sys.argv[1], sys.argv[2]
lines = res = flg = 0
for line in sys.stdin:
    lines += 1
    t = line.split(); a, b, r, f = (int(x, 16) for x in t)
    c, fl = mul(a, b, mode, tininess)
    if c != r: res += 1
    elif fl != f: flg += 1
    if (c != r or fl != f) and res + flg <= 3:
        print(f"model: line {lines}: '{line.strip()}', model gives {c:02X} {fl:02X}", file=sys.stderr)
print(lines, res, flg)
PYEOF
model() { python3 "$TMP/model.py" "$@" 2>"$TMP/model.err"; }

# ---- bitsim op -----------------------------------------------------------------------------------------
# 1.5 * 2.25 = 27/8 = 1.1011b * 2^1: 4 fraction bits, a tie between 1.101b and 1.110b -> even 1.110b *2 =
# 3.5 = code 0|1000|110 = 0x46, inexact. 448 * 2 = 896 > 448: overflow, saturate to 0x7e, flags 04+01.
expect_ok "op mul --flags" $'1.5 2.25\n448 2\n' \
  "$(tsv '0x46 0x1.cp+1 01' '0x7e 0x1.cp+8 05')" op mul --format fp8_e4m3 --flags
expect_ok "op mul --flags --exact" $'1.5 2.25\n448 2\n' \
  "$(tsv '0x46 0x1.cp+1 01 27/8' '0x7e 0x1.cp+8 05 896')" op mul --format fp8_e4m3 --flags --exact
# 1.5 = 0|0111|100 = 0x3C, 2.25 = 0|1000|001 = 0x41.
expect_ok "op mul --testfloat" $'1.5 2.25\n' "3C 41 46 01" op mul --format fp8_e4m3 --testfloat
# Codes: 0x3c = 1.5, 0x45 = 1.625*2 = 3.25; 4.875 = 1.0011b*2^2 ties to 1.010b*4 = 5 = 0|1001|010 = 0x4a.
# 0x38 = 1, 0x40 = 2: exact 2 = 0x40. Codes may be lower-case and 0x-prefixed.
expect_ok "op mul --codes" $'3C 45\n0x38 40\n' \
  "$(tsv '0x4a 0x1.4p+2 01' '0x40 0x1p+1 00')" op mul --format fp8_e4m3 --codes --flags
# Rounding: 27/8 lies between 3.25 (0x45) and 3.5 (0x46); rtz and rdn take 3.25, rup 3.5; for -27/8, rtz
# gives -3.25 (0xc5) and rdn -3.5 (0xc6).
expect_ok "op mul rtz" $'1.5 2.25\n-1.5 2.25\n' \
  "$(tsv '0x45 0x1.ap+1 01' '0xc5 -0x1.ap+1 01')" op mul --format fp8_e4m3 --flags --rounding rtz
expect_ok "op mul rdn" $'1.5 2.25\n-1.5 2.25\n' \
  "$(tsv '0x45 0x1.ap+1 01' '0xc6 -0x1.cp+1 01')" op mul --format fp8_e4m3 --flags --rounding rdn
expect_ok "op mul rup" $'1.5 2.25\n' "$(tsv '0x46 0x1.cp+1 01')" op mul --format fp8_e4m3 --flags --rounding rup
# sqrt: sqrt(2) = 1.4142 lies between 1.375 (1.011b, 0x3b) and 1.5; nearer 1.375. sqrt(4) = 2 exact;
# sqrt(1/4) = 1/2 = 0|0110|000 = 0x30; sqrt(-1) invalid -> canonical NaN 0x7f.
expect_ok "op sqrt" $'2\n4\n0.25\n-1\n' \
  "$(tsv '0x3b 0x1.6p+0 01 sqrt(2)' '0x40 0x1p+1 00 sqrt(4)' '0x30 0x1p-1 00 sqrt(1/4)' '0x7f nan 10 nan')" \
  op sqrt --format fp8_e4m3 --flags --exact
# fma rounds once: 1.5*2.25 - 0.125 = 27/8 - 1/8 = 13/4 = 1.101b*2 = 0x45 exactly (mul then sub would
# give 3.5 - 0.125 = 3.375, a tie, -> 3.5).
expect_ok "op fma" $'1.5 2.25 -0.125\n' "$(tsv '0x45 0x1.ap+1 00 13/4')" op fma --format fp8_e4m3 --flags --exact
expect_ok "op mul then sub (double rounding)" $'3.5 0.125\n' "$(tsv '0x46 0x1.cp+1 01')" op sub --format fp8_e4m3 --flags
# Comparisons give 0x0 / 0x1; lt signals invalid on a quiet NaN, lt_quiet does not.
expect_ok "op lt" $'1 2\n2 1\n1 1\nnan 1\n' "$(tsv '0x1 0x1p+0 00' '0x0 0x0p+0 00' '0x0 0x0p+0 00' '0x0 0x0p+0 10')" \
  op lt --format fp8_e4m3 --flags
expect_ok "op lt_quiet on NaN" $'nan 1\n' "$(tsv '0x0 0x0p+0 00')" op lt_quiet --format fp8_e4m3 --flags
expect_ok "op lt --testfloat (1-digit result)" $'1 2\n2 1\n' $'38 40 1 00\n40 38 0 00' op lt --format fp8_e4m3 --testfloat
# convert fp32 -> int8. Out of range (300, -300) and NaN are invalid (flags 10, not overflow): x86 gives the
# integer indefinite 0x80 (-128) for all; canonical (RISC-V) saturates (127 = 0x7f = 0x1.fcp+6, -128) and
# gives the largest positive code for NaN. 1.5 and 2.5 tie to even 2; -1.5 -> -2 = 0xfe.
expect_ok "op convert nan=x86" $'300\n-300\nnan\n1.5\n2.5\n-1.5\n' \
  "$(tsv '0x80 -0x1p+7 10' '0x80 -0x1p+7 10' '0x80 -0x1p+7 10' '0x02 0x1p+1 01' '0x02 0x1p+1 01' '0xfe -0x1p+1 01')" \
  op convert --format fp32 --to int8 --nan x86 --flags
expect_ok "op convert canonical" $'300\n-300\nnan\n' "$(tsv '0x7f 0x1.fcp+6 10' '0x80 -0x1p+7 10' '0x7f 0x1.fcp+6 10')" \
  op convert --format fp32 --to int8 --flags
expect_ok "op convert rtz" $'1.5\n-1.5\n' "$(tsv '0x01 0x1p+0 01' '0xff -0x1p+0 01')" \
  op convert --format fp32 --to int8 --flags --rounding rtz
# 300 = 1.171875*2^8: fp32 0|10000111|0010110... = 43960000.
expect_ok "op convert --testfloat" $'300\n' "43960000 80 10" op convert --format fp32 --to int8 --nan x86 --testfloat
# Division by zero: flags 08 only. fp16 has Inf (0x7c00); fp8_e4m3 has none and saturates to +-448.
# 0/0 is invalid (NaN, 10).
expect_ok "op div by zero fp16" $'1 0\n-1 0\n0 0\n' "$(tsv '0x7c00 inf 08' '0xfc00 -inf 08' '0x7e00 nan 10')" \
  op div --format fp16 --flags
expect_ok "op div by zero fp8_e4m3" $'1 0\n-1 0\n' "$(tsv '0x7e 0x1.cp+8 08' '0xfe -0x1.cp+8 08')" \
  op div --format fp8_e4m3 --flags
# NaN conventions (fp16: Inf 7c00, quiet bit 0200). Inf - Inf is invalid: canonical NaN 7e00, x86 the
# negative "QNaN indefinite" fe00. A signalling NaN operand (7c01, fd01) raises invalid; canonical returns
# 7e00, x86 returns it quieted with sign and payload: 7e01, ff01.
expect_ok "op nan canonical" $'inf -inf\n' "$(tsv '0x7e00 nan 10')" op add --format fp16 --flags
expect_ok "op nan x86" $'inf -inf\n' "$(tsv '0xfe00 nan 10')" op add --format fp16 --flags --nan x86
expect_ok "op sNaN canonical" $'7C01 3C00\nFD01 3C00\n' "$(tsv '0x7e00 nan 10' '0x7e00 nan 10')" \
  op add --format fp16 --codes --flags
expect_ok "op sNaN x86" $'7C01 3C00\nFD01 3C00\n' "$(tsv '0x7e01 nan 10' '0xff01 nan 10')" \
  op add --format fp16 --codes --flags --nan x86
# Blank lines are skipped; a CR and extra spaces are ignored.
expect_ok "op blank lines and CR" $'\n  1 2\r\n\n2 1\n' $'38 40 1 00\n40 38 0 00' op lt --format fp8_e4m3 --testfloat

# ---- bitsim vectors ------------------------------------------------------------------------------------
# Corner operands of fp8_e4m3 (vectors.cpp; magnitude indices, each with both signs): 0, the smallest
# subnormals 1 and 2, the largest subnormal 7, the smallest normals 8 and 9, 1 = 56 (0x38) and its
# neighbours 55, 57, 1.5 = 60, 2 = 64, the largest below 4 = 71, the largest finite 126 = 0x7e and 125;
# then the NaNs 0x7f and 0xff: 30 codes.
corners="00 01 02 07 08 09 37 38 39 3C 40 47 7D 7E 7F 80 81 82 87 88 89 B7 B8 B9 BC C0 C7 FD FE FF"
# div has no tie section: its file is every corner pair, then --count random pairs.
run '' vectors div --format fp8_e4m3 --count 0
exit_is "vectors div --count 0" 0
got_corners=$(cut -d' ' -f1 <<<"$OUT" | uniq | tr '\n' ' ')
same "vectors: corner operands" "$corners " "$got_corners"
ncorner=$(wc -w <<<"$got_corners")
same "vectors: --count 0 gives corners^2 lines" "$((ncorner * ncorner))" "$(grep -c . <<<"$OUT")"
# Pairs in order: line 1 is 00 00, line 2 is 00 01, line 31 is 01 00.
same "vectors: pair order" "00 01 01 00" "$(sed -n '2p;31p' <<<"$OUT" | cut -d' ' -f1,2 | tr '\n' ' ' | sed 's/ $//')"
gen "vectors div seed 3" "$TMP/d3a.hex" vectors div --format fp8_e4m3 --count 37 --seed 3
gen "vectors div seed 3 again" "$TMP/d3b.hex" vectors div --format fp8_e4m3 --count 37 --seed 3
gen "vectors div seed 4" "$TMP/d4.hex" vectors div --format fp8_e4m3 --count 37 --seed 4
same "vectors: corners^2 + --count lines" "$((ncorner * ncorner + 37))" "$(wc -l <"$TMP/d3a.hex" | tr -d ' ')"
check "vectors: same seed, same file" cmp -s "$TMP/d3a.hex" "$TMP/d3b.hex"
check "vectors: another seed keeps the corners" cmp -s <(head -n $((ncorner * ncorner)) "$TMP/d3a.hex") <(head -n $((ncorner * ncorner)) "$TMP/d4.hex")
ndiff=$(diff <(tail -n 37 "$TMP/d3a.hex") <(tail -n 37 "$TMP/d4.hex") | grep -c '^<' || true)
if [ "$ndiff" -ge 30 ]; then pass; else fail "vectors: another seed changes only $ndiff of the 37 random vectors"; fi
# Line format: 4 upper-case 2-digit hex tokens for a binary op on an 8-bit format.
gen "vectors mul" "$TMP/mul.hex" vectors mul --format fp8_e4m3 --count 200 --seed 5
if grep -Evq '^[0-9A-F]{2}( [0-9A-F]{2}){3}$' "$TMP/mul.hex"; then fail "vectors: line format"; else pass; fi
same "vectors: mul file against the model" "$(wc -l <"$TMP/mul.hex" | tr -d ' ') 0 0" "$(model rne after <"$TMP/mul.hex")"
[ -s "$TMP/model.err" ] && fail "model: $(cat "$TMP/model.err")"
# vectors and op agree: the operands of the file through `op mul --codes --testfloat` give the file back.
run "$(cut -d' ' -f1,2 "$TMP/mul.hex")"$'\n' op mul --format fp8_e4m3 --codes --testfloat
same "vectors agree with op --codes --testfloat" "0 $(cat "$TMP/mul.hex")" "$RC $OUT"
# Exhaustive: all 256^2 pairs in code order, each one checked against the model.
gen "vectors mul --exhaustive" "$TMP/exh.hex" vectors mul --format fp8_e4m3 --exhaustive
same "vectors --exhaustive: 65536 vectors, all as the model" "65536 0 0" "$(model rne after <"$TMP/exh.hex")"
same "vectors --exhaustive: first and last" $'00 00 00 00\nFF FF 7F 00' "$(sed -n '1p;$p' "$TMP/exh.hex")"
# Line 14905 = 0x3A*256 + 0x38 + 1: 1.25 * 1 = 1.25 = 0x3a exactly.
same "vectors --exhaustive: line 14905" "3A 38 3A 00" "$(sed -n 14905p "$TMP/exh.hex")"
# Two 16-bit operands make 2^32 vectors: refused.
refused "vectors --exhaustive fp16" "" "" "exhaustive.*2\^32" vectors mul --format fp16 --exhaustive

# --notexact (TestFloat's -notexact): conversions to integers raise no inexact; 1.5 -> 2 (tie to even)
# and -1.5 -> -2 = 0xfe keep their codes, 300 stays invalid alone. Only conversions to fixed point take it.
expect_ok "op convert --notexact" $'1.5\n-1.5\n300\n' "$(tsv '0x02 0x1p+1 00' '0xfe -0x1p+1 00' '0x7f 0x1.fcp+6 10')" \
  op convert --format fp32 --to int8 --flags --notexact
refused "op: --notexact on an add" $'1 2\n' "" "--notexact applies only to convert" op add --format fp16 --notexact
# fma(Inf, 0, qNaN): RISC-V signals invalid; x86 returns the quieted addend without invalid (Intel SDM).
expect_ok "op fma Inf*0+qNaN canonical" $'7C00 0000 7E01\n' "7C00 0000 7E01 7E00 10" op fma --format fp16 --codes --testfloat
expect_ok "op fma Inf*0+qNaN x86" $'7C00 0000 7E01\n' "7C00 0000 7E01 7E01 00" op fma --format fp16 --codes --testfloat --nan x86

# ---- bitsim check --------------------------------------------------------------------------------------
n=$(wc -l <"$TMP/mul.hex" | tr -d ' ')
run '' check mul --format fp8_e4m3 "$TMP/mul.hex"
exit_is "check: bitsim's own vectors" 0
same "check: bitsim's own vectors, output" "check: $n vectors, 0 mismatches (0 in the result, 0 in the flags only)" "$OUT"
# Vectors of a device rounding toward zero, checked under rne: the model (rtz) vouches for the file, the
# model (rne) counts the mismatches; every one is explained by rounding=rtz (rdn fails on negative
# results, ftz on normal ones).
gen "vectors mul rtz" "$TMP/rtz.hex" vectors mul --format fp8_e4m3 --count 300 --rounding rtz
n=$(wc -l <"$TMP/rtz.hex" | tr -d ' ')
same "vectors --rounding rtz against the model" "$n 0 0" "$(model rtz after <"$TMP/rtz.hex")"
read -r _ nres nflg <<<"$(model rne after <"$TMP/rtz.hex")"
run '' check mul --format fp8_e4m3 "$TMP/rtz.hex"
exit_is "check: rtz vectors under rne" 1
same "check: rtz vectors under rne, summary" \
  "check: $n vectors, $((nres + nflg)) mismatches ($nres in the result, $nflg in the flags only)"$'\n'"every mismatch is reproduced by: [rounding=rtz]" \
  "$(tail -n 2 <<<"$OUT")"
if [ "$nres" -gt 50 ]; then pass; else fail "check: only $nres rtz result mismatches; the test is weak"; fi
# The first mismatch, line 37 = corner 2 (0x01 = 2^-9) * corner 7 (0x37 = 15/16): 15/16 of the smallest
# subnormal; rne gives 0x01, rtz 0x00, both underflow+inexact (03); so do rdn and ftz.
same "check: first rtz mismatch" "$TMP/rtz.hex:37: mul 01 37 00 03
  result: device 0x00 bitsim 0x01; bits 0 differ (mask 0x01), device 1 ulp(s) below
  flags: equal (03)
  the device's result and flags match bitsim with: [rounding=rtz] [rounding=rdn] [ftz]" "$(head -n 4 <<<"$OUT")"
# One result altered. Line 249 = corner 9 (0x39 = 1.125) squared: 1.265625 = 1.010001b -> 1.010b = 0x3a,
# inexact (rup would give 0x3b). Device 0x3b: bit 0 differs, one ulp above, as rup.
gen "vectors mul --count 20" "$TMP/good.hex" vectors mul --format fp8_e4m3 --count 20
same "check: line 249 of the vectors" "39 39 3A 01" "$(sed -n 249p "$TMP/good.hex")"
sed '249s/.*/39 39 3B 01/' "$TMP/good.hex" >"$TMP/alt1.hex"
n=$(wc -l <"$TMP/good.hex" | tr -d ' ')
run '' check mul --format fp8_e4m3 "$TMP/alt1.hex"
exit_is "check: one result altered" 1
same "check: one result altered, report" "$TMP/alt1.hex:249: mul 39 39 3B 01
  result: device 0x3b bitsim 0x3a; bits 0 differ (mask 0x01), device 1 ulp(s) above
  flags: equal (01)
  the device's result and flags match bitsim with: [rounding=rup]
check: $n vectors, 1 mismatches (1 in the result, 0 in the flags only)
every mismatch is reproduced by: [rounding=rup]" "$OUT"
# Sign flipped: 0xba = -1.25. Positions on the line of values: 0x3a is 58, 0xba is -58-1 = -59 (-0 and +0
# one apart): 117 ulps below; bit 7 differs. No mode makes a positive product negative.
sed '249s/.*/39 39 BA 01/' "$TMP/good.hex" >"$TMP/alt2.hex"
run '' check mul --format fp8_e4m3 "$TMP/alt2.hex"
exit_is "check: sign flipped" 1
same "check: sign flipped, report" "$TMP/alt2.hex:249: mul 39 39 BA 01
  result: device 0xba bitsim 0x3a; bits 7 differ (mask 0x80), device 117 ulp(s) below
  flags: equal (01)
  no other rounding mode or option (one or two changes) gives the device's output
check: $n vectors, 1 mismatches (1 in the result, 0 in the flags only)
no single option reproduces every mismatch: a bug rather than a mode" "$OUT"
# Flags altered (inexact dropped): a flags-only mismatch, which --ignore-flags ignores.
sed '249s/.*/39 39 3A 00/' "$TMP/good.hex" >"$TMP/alt3.hex"
run '' check mul --format fp8_e4m3 "$TMP/alt3.hex"
exit_is "check: flags altered" 1
same "check: flags altered, lines" "$TMP/alt3.hex:249: mul 39 39 3A 00
  result: equal
  flags: device 00 (none) bitsim 01 (inexact); missing inexact" "$(head -n 3 <<<"$OUT")"
same "check: flags altered, count" "check: $n vectors, 1 mismatches (0 in the result, 1 in the flags only)" "$(grep '^check:' <<<"$OUT")"
run '' check mul --format fp8_e4m3 --ignore-flags "$TMP/alt3.hex"
exit_is "check --ignore-flags" 0
same "check --ignore-flags, output" "check: $n vectors, 0 mismatches (0 in the result, 0 in the flags only)" "$OUT"
# Tininess before rounding (Arm): 0x07 * 0x39 = 7*2^-9 * 9/8 = 63*2^-12, just below 2^-6; rounded to 4
# significant bits it is 2^-6, so tiny only before rounding: flags 03 instead of 01. Line 99 = corner 4
# (0x07) * corner 9 (0x39). The model counts the other such lines.
gen "vectors mul tininess before" "$TMP/tb.hex" vectors mul --format fp8_e4m3 --count 0 --tininess before
n=$(wc -l <"$TMP/tb.hex" | tr -d ' ')
same "vectors --tininess before against the model" "$n 0 0" "$(model rne before <"$TMP/tb.hex")"
read -r _ nres nflg <<<"$(model rne after <"$TMP/tb.hex")"
same "model: tininess mismatches are flags only" "0" "$nres"
run '' check mul --format fp8_e4m3 "$TMP/tb.hex"
exit_is "check: tininess=before vectors" 1
same "check: tininess=before, first mismatch" "$TMP/tb.hex:99: mul 07 39 08 03
  result: equal
  flags: device 03 (underflow+inexact) bitsim 01 (inexact); extra underflow
  the device's result and flags match bitsim with: [tininess=before]" "$(head -n 4 <<<"$OUT")"
same "check: tininess=before, summary" \
  "check: $n vectors, $nflg mismatches (0 in the result, $nflg in the flags only)"$'\n'"every mismatch is reproduced by: [tininess=before]" \
  "$(tail -n 2 <<<"$OUT")"
if [ "$nflg" -ge 8 ]; then pass; else fail "check: $nflg tininess mismatches; the 8 corner pairs +-07 x +-39 at least"; fi
# Stochastic rounding: the same seed reproduces the file; a vector file's tail checks with --first-index.
gen "vectors mul sr" "$TMP/sr.hex" vectors mul --format fp8_e4m3 --count 50 --rounding sr --seed 7
n=$(wc -l <"$TMP/sr.hex" | tr -d ' ')
run '' check mul --format fp8_e4m3 --rounding sr --seed 7 "$TMP/sr.hex"
same "check: sr, same seed" "0 check: $n vectors, 0 mismatches (0 in the result, 0 in the flags only)" "$RC $OUT"
tail -n +101 "$TMP/sr.hex" >"$TMP/sr_tail.hex"
run '' check mul --format fp8_e4m3 --rounding sr --seed 7 --first-index 100 "$TMP/sr_tail.hex"
same "check: sr, --first-index" "0 check: $((n - 100)) vectors, 0 mismatches (0 in the result, 0 in the flags only)" "$RC $OUT"
run '' check mul --format fp8_e4m3 --rounding sr --seed 8 "$TMP/sr.hex"
exit_is "check: sr, another seed" 1

# ---- bad input: exit 2, a message naming the problem ---------------------------------------------------
# --exact-input: operands as the exact values their text spells. 2^62 + 1 is a value of fixed(i=63,f=0)
# that a double cannot hold (its nearest double 2^62 is also a value, so without --exact-input the
# operand silently becomes 2^62): exactly, (2^62 + 1) + 1 = 2^62 + 2 = 0x4000000000000002.
expect_ok "op --exact-input: 64-bit operands" $'4611686018427387905 1\n' "$(tsv '0x4000000000000002 0x1p+62 00')" \
  op add --format 'fixed(i=63,f=0)' --exact-input --flags
expect_ok "op without --exact-input: the nearest double" $'4611686018427387905 1\n' "$(tsv '0x4000000000000001 0x1p+62 00')" \
  op add --format 'fixed(i=63,f=0)' --flags
refused "op --exact-input: 1 + 2^-11 is not an fp16 value" $'1.00048828125 1\n' "" "not a value of fp16" op mul --format fp16 --exact-input
refused "op --exact-input with --codes" $'3c00 3c00\n' "" "--exact-input reads numbers" op mul --format fp16 --exact-input --codes
refused "op: unknown OP" $'1 2\n' "" "OP 'frob'.*unknown" op frob --format fp8_e4m3
refused "vectors: unknown OP" "" "" "OP 'frob'.*unknown" vectors frob --format fp8_e4m3
refused "op: unknown format" $'1 2\n' "" "--format.*fp9" op mul --format fp9
refused "op: Graham format" $'1 2\n' "" "graham_L4.*Graham" op mul --format graham_L4
refused "vectors: Graham format" "" "" "graham_L4.*Graham" vectors mul --format graham_L4
refused "check: Graham format" "" "" "graham_L4.*Graham" check mul --format graham_L4 "$TMP/good.hex"
refused "op: convert without --to" $'1\n' "" "convert needs --to" op convert --format fp32
refused "op: --to Graham" $'1\n' "" "--to graham_L4.*Graham" op convert --format fp32 --to graham_L4
refused "op: --to unknown" $'1\n' "" "--to.*fp9" op convert --format fp32 --to fp9
refused "op: --to without convert" $'1 2\n' "" "--to is for convert only" op mul --format fp32 --to int8
refused "op: bad --rounding" $'1 2\n' "" "--rounding 'rzz'" op mul --format fp8_e4m3 --rounding rzz
refused "op: bad --nan" $'1 2\n' "" "--nan 'intel'" op mul --format fp8_e4m3 --nan intel
refused "op: bad --tininess" $'1 2\n' "" "--tininess 'during'" op mul --format fp8_e4m3 --tininess during
refused "check: bad --sr-bits" "" "" "--sr-bits 40" check mul --format fp8_e4m3 --rounding sr --sr-bits 40 "$TMP/good.hex"
refused "check: --sr-bits without sr" "" "" "--sr-bits applies only to --rounding sr" check mul --format fp8_e4m3 --sr-bits 8 "$TMP/good.hex"
refused "op: --seed without sr" $'1 1\n' "" "--seed applies only to --rounding sr" op mul --format fp8_e4m3 --seed 3
refused "vectors: --sr-bits without sr" "" "" "--sr-bits applies only to --rounding sr" vectors mul --format fp8_e4m3 --sr-bits 8
refused "vectors: bad --seed" "" "" "--seed '-1'" vectors mul --format fp8_e4m3 --seed -1
# Negative counts: CLI11 would wrap -1 to 2^64-1 for an unsigned option (an endless file) without the check.
refused "vectors: negative --count" "" "" "--count.*-1" vectors div --format fp8_e4m3 --count -1
refused "check: negative --explain" "" "" "--explain.*-1" check mul --format fp8_e4m3 --explain -1 "$TMP/good.hex"
refused "check: negative --first-index" "" "" "--first-index.*-5" check mul --format fp8_e4m3 --first-index=-5 "$TMP/good.hex"
# 0.1 is not a value of fp8_e4m3 (nearest 1.625*2^-4 = 0x1.ap-4).
refused "op: operand not a value of the format" $'0.1 1\n' "" "line 1:.*'0\.1' is not a value of fp8_e4m3" \
  op mul --format fp8_e4m3
refused "op: operand not a number" $'1 2\n1 xyz\n' "$(tsv '0x40 0x1p+1')" "line 2:.*operand 2.*'xyz' is not a number" \
  op mul --format fp8_e4m3
refused "op: wrong operand count" $'1 2\n1 2 3\n' "$(tsv '0x40 0x1p+1')" "line 2:.*2 operand.*found 3" \
  op mul --format fp8_e4m3
refused "op: fma with 2 operands" $'1 2\n' "" "line 1:.*3 operand.*found 2" op fma --format fp8_e4m3
refused "op: code too wide" $'1 100\n' "" "line 1:.*'100'.*8 bits" op mul --format fp8_e4m3 --codes
refused "op: code not hex" $'1 G\n' "" "line 1:.*'G'.*not hex" op mul --format fp8_e4m3 --codes
printf '3C 41 46 01\n3C 41 46\n' >"$TMP/short.hex"
# A device converting without inexact (TestFloat's -notexact): check names the option. 2.5 -> 2 (tie to
# even) is inexact for bitsim (flags 01) and not for the device (00).
printf '40200000 02 00\n3FC00000 02 00\n40000000 02 00\n' >"$TMP/notexact.hex"
run '' check convert --format fp32 --to int8 "$TMP/notexact.hex"
exit_is "check: a device without inexact on conversions" 1
same "check: notexact, report" "$TMP/notexact.hex:1: convert 40200000 02 00
  result: equal
  flags: device 00 (none) bitsim 01 (inexact); missing inexact
  the device's result and flags match bitsim with: [notexact]" "$(head -n 4 <<<"$OUT")"
same "check: notexact, summary" "every mismatch is reproduced by: [notexact]" "$(tail -n 1 <<<"$OUT")"
run '' check convert --format fp32 --to int8 --notexact "$TMP/notexact.hex"
exit_is "check: --notexact accepts the device" 0
# Two NaNs with different payloads are not "a NaN on one side"; a flags-only mismatch lists no options
# that merely keep the equal result. From standard input ("-").
run $'7E00 3C00 7E01 00\n' check add --format fp16 --nan x86 -
exit_is "check: NaN payloads differ" 1
same "check: both NaNs" "-:1: add 7E00 3C00 7E01 00
  result: device 0x7e01 bitsim 0x7e00; bits 0 differ (mask 0x0001), both NaNs (sign or payload differ)" "$(head -n 2 <<<"$OUT")"
run $'3C00 3C00 4000 01\n' check add --format fp16 -
exit_is "check: flags only, exact sum" 1
same "check: flags only" "-:1: add 3C00 3C00 4000 01
  result: equal
  flags: device 01 (inexact) bitsim 00 (none); extra inexact
  no other rounding mode or option (one or two changes) gives the device's flags" "$(head -n 4 <<<"$OUT")"
refused "check: line with a token missing" "" "" "short\.hex:2:.*expected 4 tokens.*found 3" check mul --format fp8_e4m3 "$TMP/short.hex"
printf '3C 41 46 01\n\n3C 41 ZZ 01\n' >"$TMP/nothex.hex"
refused "check: token not hex" "" "" "nothex\.hex:3:.*'ZZ'.*not hex" check mul --format fp8_e4m3 "$TMP/nothex.hex"
printf '3C 41 146 01\n' >"$TMP/wide.hex"
refused "check: result too wide" "" "" "wide\.hex:1:.*'146'.*8 bits" check mul --format fp8_e4m3 "$TMP/wide.hex"
refused "check: missing file" "" "" "absent\.hex.*cannot open" check mul --format fp8_e4m3 "$TMP/absent.hex"

finish
