#!/usr/bin/env bash
# Stochastic rounding (formats.md section 2): explicit words files, R random bits, word consumption,
# and the Philox4x32-10 word stream behind --seed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

words() { printf '%s\n' "$@" >"$TMP/words"; }
sr() { echo quantize --rounding sr --random-words "$TMP/words" --flags; }

# fp8_e4m3: 1.03125 = 1 + 2^-5 lies between d = 1 and u = 1.125 with t = 1/4. With R = 32,
# f = 2^30 and the result is u iff 2^30 + w >= 2^32, i.e. iff w >= 0xC0000000.
words 0xBFFFFFFF 0xC0000000 0xFFFFFFFF 0
expect_ok "sr R=32 boundary" $'1.03125\n1.03125\n1.03125\n1.03125\n' \
  "$(tsv '0x38 0x1p+0 01' '0x39 0x1.2p+0 01' '0x39 0x1.2p+0 01' '0x38 0x1p+0 01')" $(sr) --format fp8_e4m3
# R = 2: r = w >> 30, f = floor(4/4) = 1; u iff 1 + r >= 4, i.e. r = 3: the same boundary.
expect_ok "sr R=2 boundary" $'1.03125\n1.03125\n1.03125\n1.03125\n' \
  "$(tsv '0x38 0x1p+0 01' '0x39 0x1.2p+0 01' '0x39 0x1.2p+0 01' '0x38 0x1p+0 01')" $(sr) --format fp8_e4m3 --sr-bits 2
# R = 1: f = floor(2/4) = 0 and r <= 1 < 2: never rounds up.
expect_ok "sr R=1" $'1.03125\n1.03125\n1.03125\n' "$(tsv '0x38 0x1p+0 01' '0x38 0x1p+0 01' '0x38 0x1p+0 01')" \
  $(sr) --format fp8_e4m3 --sr-bits 1
# Floats work on the magnitude: -1.03125 goes to -1.125 for the same words.
expect_ok "sr negative float" $'-1.03125\n-1.03125\n' "$(tsv '0xb8 -0x1p+0 01' '0xb9 -0x1.2p+0 01')" \
  $(sr) --format fp8_e4m3

# Words file syntax: decimal and 0x/0X hex, blank lines skipped, extra words ignored.
# 3221225471 = 0xBFFFFFFF, 3221225472 = 0xC0000000.
printf '3221225471\n\n0Xc0000000\n3221225472\n\n0\n5\n' >"$TMP/words"
expect_ok "words file syntax" $'1.03125\n1.03125\n1.03125\n' \
  "$(tsv '0x38 0x1p+0 01' '0x39 0x1.2p+0 01' '0x39 0x1.2p+0 01')" $(sr) --format fp8_e4m3

# Exactly representable inputs never change, whatever the word.
words 0xFFFFFFFF 0xFFFFFFFF 0xFFFFFFFF 0xFFFFFFFF 0xFFFFFFFF 0xFFFFFFFF 0xFFFFFFFF
expect_ok "sr exact inputs" $'1\n448\n-0.5\n0\n-0\n0x1p-9\n-448\n' \
  "$(tsv '0x38 0x1p+0 00' '0x7e 0x1.cp+8 00' '0xb0 -0x1p-1 00' '0x00 0x0p+0 00' '0x80 -0x0p+0 00' \
         '0x01 0x1p-9 00' '0xfe -0x1.cp+8 00')" $(sr) --format fp8_e4m3
expect_ok "sr exact int8" $'3\n-7\n' "$(tsv '0x03 0x1.8p+1 00' '0xf9 -0x1.cp+2 00')" $(sr) --format int8

# Every element consumes one word, also an exact one, a NaN or an infinity.
words 0xFFFFFFFF 0 0 0xFFFFFFFF 0 0xFFFFFFFF
expect_ok "words consumed by exact, NaN and Inf inputs" $'1\n1.03125\nnan\n1.03125\ninf\n1.03125\n' \
  "$(tsv '0x38 0x1p+0 00' '0x38 0x1p+0 01' '0x7f nan 00' '0x39 0x1.2p+0 01' '0x7e 0x1.cp+8 10' '0x39 0x1.2p+0 01')" \
  $(sr) --format fp8_e4m3

# Overflow after sr (fp8_e5m2): 60000 lies between 57344 and 65536 with t = 2656/8192, f = 0x53000000;
# up iff w >= 2^32 - 0x53000000 = 0xAD000000; up means 65536 > 57344: overflow to inf.
words 0xACFFFFFF 0xAD000000
expect_ok "sr overflow e5m2" $'60000\n60000\n' "$(tsv '0x7b 0x1.cp+15 01' '0x7c inf 05')" $(sr) --format fp8_e5m2

# Tininess with sr uses the same word. 0x1.fp-7 = 2^-6 - 2^-11 (fp8_e4m3): on the format's grid
# d = 7*2^-9, u = 2^-6, t = 3/4 (up iff w >= 0x40000000); with precision 4 and unbounded exponent
# d = 1.111b*2^-7, u = 2^-6, t = 1/2 (up iff w >= 0x80000000); tiny when that rounding stays below 2^-6.
words 0x3FFFFFFF 0x40000000 0x80000000
expect_ok "sr tininess" $'0x1.fp-7\n0x1.fp-7\n0x1.fp-7\n' "$(tsv '0x07 0x1.cp-7 03' '0x08 0x1p-6 03' '0x08 0x1p-6 01')" \
  $(sr) --format fp8_e4m3
# subnormals=no: a subnormal result is flushed to zero after the stochastic rounding.
expect_ok "sr flush" $'0x1.fp-7\n0x1.fp-7\n0x1.fp-7\n' "$(tsv '0x00 0x0p+0 03' '0x08 0x1p-6 03' '0x08 0x1p-6 01')" \
  $(sr) --format 'float(e=4,m=3,special=fn,subnormals=no)'

# Fixed point works on the signed value y = x*2^F: -2.25 has d = -3, t = 3/4, f = 0xC0000000:
# -2 iff w >= 0x40000000 (not symmetric with 2.25, which goes up iff w >= 0xC0000000).
words 0x3FFFFFFF 0x40000000 0xBFFFFFFF 0xC0000000 0x7FFFFFFF 0x80000000
expect_ok "sr int8" $'-2.25\n-2.25\n2.25\n2.25\n127.5\n127.5\n' \
  "$(tsv '0xfd -0x1.8p+1 01' '0xfe -0x1p+1 01' '0x02 0x1p+1 01' '0x03 0x1.8p+1 01' '0x7f 0x1.fcp+6 01' '0x7f 0x1.fcp+6 05')" \
  $(sr) --format int8

# --seed: Philox4x32-10, key (seed mod 2^32, seed div 2^32), element i = word i mod 4 of the block
# with counter (i div 4, 0, 0, 0). Words computed with an independent implementation checked against
# Random123's known-answer vectors (ctr 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8):
#   seed 0:          6627e8d5 e169c58d bc57ac4c 9b00dbd8 f8e4cca4 5cb200db b1a574eb 097eff67
#                    04faa329 51c732a6 241513ad 459135e4
#   seed 2^32 + 7:   59c2c148 f7fde228 767f1b95 c883a31c 0de2d9b0 d79a2a5f 948527d7 32001a11
#                    faf077e2 32779ce3 123ba7e2 47469a96
# fp8_e4m3 of 1.0625 (t = 1/2) is 1.125 iff w >= 0x80000000; of 1.03125 iff w >= 0xC0000000.
# Blank lines are not elements and consume no word.
D=$(tsv '0x38 0x1p+0')
U=$(tsv '0x39 0x1.2p+0')
x12=$'1.0625\n1.0625\n\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n1.0625\n'
expect_ok "philox seed 0" "$x12" "$(printf '%s\n' "$D" "$U" "$U" "$U" "$U" "$D" "$U" "$D" "$D" "$D" "$D" "$D")" \
  quantize --format fp8_e4m3 --rounding sr --seed 0
expect_ok "philox default seed is 0" "$x12" "$(printf '%s\n' "$D" "$U" "$U" "$U" "$U" "$D" "$U" "$D" "$D" "$D" "$D" "$D")" \
  quantize --format fp8_e4m3 --rounding sr
y12=$(sed 's/1.0625/1.03125/' <<<"$x12")
expect_ok "philox seed 2^32+7" "$y12" "$(printf '%s\n' "$D" "$U" "$D" "$U" "$D" "$U" "$D" "$D" "$U" "$D" "$D" "$D")" \
  quantize --format fp8_e4m3 --rounding sr --seed 4294967303

# Reproducible: the same seed gives the same output; different seeds (almost surely) differ on 200
# elements with t = 1/2. The largest seed is accepted.
many=$(for i in $(seq 200); do echo 1.0625; done)
run "$many" quantize --format fp8_e4m3 --rounding sr --seed 12345; a=$OUT
run "$many" quantize --format fp8_e4m3 --rounding sr --seed 12345; b=$OUT
run "$many" quantize --format fp8_e4m3 --rounding sr --seed 54321; c=$OUT
if [ "$a" = "$b" ] && [ "$(wc -l <<<"$a")" -eq 200 ]; then pass; else fail "same seed, different output"; fi
if [ "$a" != "$c" ]; then pass; else fail "seeds 12345 and 54321 gave identical output"; fi
run $'1.0625\n' quantize --format fp8_e4m3 --rounding sr --seed 18446744073709551615
if [ "$RC" -eq 0 ] && { [ "$OUT" = "$D" ] || [ "$OUT" = "$U" ]; }; then pass; else fail "seed 2^64-1: rc $RC, $OUT $ERR"; fi

# With a mode other than sr, --sr-bits, --seed and --random-words would have no effect: each is refused,
# named, before any input is read (a user who forgot --rounding sr must not get round-to-nearest silently).
expect_error "rne refuses --sr-bits" $'1.03125\n' "" "--sr-bits applies only to --rounding sr" quantize --format fp8_e4m3 --sr-bits 8
expect_error "rne refuses --seed" $'1.03125\n' "" "--seed applies only to --rounding sr" quantize --format fp8_e4m3 --seed 7
expect_error "rtz refuses --random-words" $'1.03125\n' "" "--random-words applies only to --rounding sr.*rtz" quantize \
  --format fp8_e4m3 --rounding rtz --random-words "$TMP/none"

finish
