#!/usr/bin/env bash
# `bitsim gemm` (docs/spec/gemm.md): values and codes derived by hand, and the error behaviour.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

printf '1 2\n3 4\n' >"$TMP/A"
# B as fp8_e4m3: 0.5, 1 / +inf saturates to 448, -0 stays -0 (blank line skipped).
printf '0x1p-1 1\n\n1e400 -0\n' >"$TMP/B"
FMT=(--a "$TMP/A" --b "$TMP/B" --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 --out-format bf16)
# C00 = 0.5 + 2*448 = 896.5 -> bf16 (8 significant bits) 896 = 0x1.cp+9; C01 = 1 + 2*(-0) = 1;
# C10 = 1.5 + 4*448 = 1793.5 -> 1792 = 0x1.cp+10; C11 = 3 + 4*(-0) = 3.
expect_ok values "" $'0x1.cp+9 0x1p+0\n0x1.cp+10 0x1.8p+1' gemm "${FMT[@]}"
# bf16 codes: 896 = 0 10001000 1100000 = 0x4460; 1 = 0x3f80; 1792 = 0x44e0; 3 = 0x4040.
expect_ok codes "" $'0x4460 0x3f80\n0x44e0 0x4040' gemm "${FMT[@]}" --codes

# Accumulation order: 1 + 2^-11 + 2^-11 with an fp16 accumulator (11 significant bits).
printf '1 0x1p-11 0x1p-11\n' >"$TMP/R"
printf '1\n1\n1\n' >"$TMP/C"
ORD=(--a "$TMP/R" --b "$TMP/C" --a-format fp32 --b-format fp32 --out-format fp32)
# sequential: 1 + 2^-11 is a tie, to even: 1; again 1.
expect_ok sequential "" '0x1p+0' gemm "${ORD[@]}" --acc fp16
# exact: 1 + 2^-10 = 0x1.004p+0, representable in fp32.
expect_ok exact "" '0x1.004p+0' gemm "${ORD[@]}" --acc exact
# blocked, chunk 3: one exact chunk, then one rounding: 1 + 2^-10 is exact in fp16.
expect_ok blocked3 "" '0x1.004p+0' gemm "${ORD[@]}" --acc fp16 --order blocked --chunk 3
# toward +inf: 1 + 2^-11 -> 1 + 2^-10, + 2^-11 -> 1 + 2^-9 = 0x1.008p+0.
expect_ok rup "" '0x1.008p+0' gemm "${ORD[@]}" --acc fp16 --rounding rup

# Saturating accumulator: 400 + 400 -> 448 in fp8_e4m3, then 448 - 400 = 48 = 0x1.8p+5.
printf '400 400 -400\n' >"$TMP/S"
expect_ok saturate "" '0x1.8p+5' gemm --a "$TMP/S" --b "$TMP/C" --a-format fp32 --b-format fp32 --acc fp8_e4m3 --out-format fp32

# Errors: exit 2, nothing on stdout, a message naming the file, row and column or the option.
printf '1 2\n3\n' >"$TMP/ragged"
expect_error ragged "" "" "ragged.*row 2" gemm --a "$TMP/ragged" --b "$TMP/B" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32
printf '1 x\n' >"$TMP/bad"
expect_error unparsable "" "" "bad: row 1 .*column 2" gemm --a "$TMP/bad" --b "$TMP/B" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32
printf '\n\n' >"$TMP/empty"
expect_error empty "" "" "empty matrix" gemm --a "$TMP/empty" --b "$TMP/B" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32
expect_error shapes "" "" "3 rows|columns" gemm --a "$TMP/A" --b "$TMP/C" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32
expect_error chunk "" "" "--chunk" gemm "${ORD[@]}" --acc fp16 --order blocked
expect_error graham "" "" "--acc.*Graham" gemm "${ORD[@]}" --acc graham_L4
expect_error sr "" "" "sr" gemm "${ORD[@]}" --acc fp16 --rounding sr
expect_error bad_format "" "" "--a-format" "gemm" --a "$TMP/A" --b "$TMP/B" --a-format fp9 --b-format fp32 --acc fp32 --out-format fp32
printf '1 nan\n' >"$TMP/N"
printf '1\n1\n' >"$TMP/O"
# A NaN cannot be rounded to int8 (rule 1 and 4): names A[0][1].
expect_error nan_input "" "" "A\[0\]\[1\]" gemm --a "$TMP/N" --b "$TMP/O" --a-format int8 --b-format int8 --acc int32 --out-format int32
# Inf * 0 = NaN reaches an int32 accumulator: names C[0][0].
printf 'inf\n' >"$TMP/I"
printf '0\n' >"$TMP/Z"
expect_error nan_acc "" "" "C\[0\]\[0\]" gemm --a "$TMP/I" --b "$TMP/Z" --a-format fp16 --b-format fp16 --acc int32 --out-format int32
expect_error missing_file "" "" "nope.*cannot open" gemm --a "$TMP/nope" --b "$TMP/B" --a-format fp32 --b-format fp32 --acc fp32 --out-format fp32

# --exact-input: 2^62 + 1 and -2^62 in fixed(i=63,f=0): through a double, 2^62 + 1 becomes 2^62 and the
# sum is 0; exactly, the sum is 1 (code 0x1 with --codes).
printf '4611686018427387905 -4611686018427387904\n' >"$TMP/X"
printf '1\n1\n' >"$TMP/Y"
XFMT=(--a "$TMP/X" --b "$TMP/Y" --a-format 'fixed(i=63,f=0)' --b-format int8 --acc exact --out-format 'fixed(i=63,f=0)' --codes)
expect_ok "exact-input: through doubles" "" '0x0000000000000000' gemm "${XFMT[@]}"
expect_ok "exact-input: exactly" "" '0x0000000000000001' gemm "${XFMT[@]}" --exact-input
# Options that would have no effect are refused.
expect_error "--chunk without blocked" "" "" "--chunk 4: applies only to --order blocked" gemm "${ORD[@]}" --acc fp16 --chunk 4
expect_error "--order with --acc exact" "" "" "--order: an exact accumulator" gemm "${ORD[@]}" --acc exact --order pairwise
# C's size is checked before anything is computed: a column A of 2^13 + 1 rows times a row B of 2^13
# columns would give 2^26 + 2^13 elements, above the limit of 2^26.
awk 'BEGIN { for (i = 0; i < 8193; ++i) print 1 }' >"$TMP/tall"
awk 'BEGIN { for (i = 0; i < 8192; ++i) printf "1 "; print "" }' >"$TMP/wide"
expect_error "C above 2^26 elements" "" "" "C would have 8193 x 8192 elements.*2\^26" gemm --a "$TMP/tall" --b "$TMP/wide" \
  --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32

finish
