#!/usr/bin/env bash
# `bitsim analyze quantizer` (docs/analyze.md): the table and the JSON output, reproducibility, and
# bad options (exit status 2, a message naming the option, nothing on stdout). Reference values: the
# paper's Table 2 (Graham 2017: corr(X, L4(N(X))) = 0.981 for N(0,1)) and thresholds derived by hand
# from the format formulas, evaluated with Python's math.erfc.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "analyze.sh: python3 is needed to check the JSON output" >&2; exit 1; }

# json_check NAME PY_EXPR ARGS...: bitsim ARGS exits 0 with an empty stderr and prints strict JSON
# (no NaN/Infinity tokens) for which the Python expression PY_EXPR over the parsed object `j` holds.
json_check() {
  local name=$1 expr=$2
  shift 2
  run '' "$@"
  if [ "$RC" -ne 0 ]; then fail "$name: exit status $RC (stderr: $ERR)"; return 0; fi
  [ -z "$ERR" ] || { fail "$name: unexpected stderr: $ERR"; return 0; }
  if python3 -c '
import json, math, sys
def bad(c): raise ValueError("non-standard JSON constant " + c)
j = json.loads(sys.stdin.read(), parse_constant=bad)
sys.exit(0 if eval(sys.argv[1], {"j": j, "math": math}) else 1)' "$expr" <<<"$OUT"; then
    pass
  else
    fail "$name: JSON check failed: $expr"$'\n'"$OUT"
  fi
}

# ---- exact values -----------------------------------------------------------------------------------
# Graham 2017 Table 2: L4 on N(0,1) has correlation 0.981 and sd 1.000 (three decimals).
run '' analyze quantizer --format graham_L4 --exact
corr=$(awk '/^correlation\(X,Q\)/ {print $2}' <<<"$OUT")
sd=$(awk '/^sd\(Q\)/ {print $2}' <<<"$OUT")
if [ "$RC" -eq 0 ] && [ -z "$ERR" ] && [ "$(printf '%.3f' "$corr")" = 0.981 ] && [ "$(printf '%.3f' "$sd")" = 1.000 ] &&
  grep -q 'exact N(0,1)' <<<"$OUT"; then
  pass
else
  fail "exact L4 table: rc $RC, correlation '$corr', sd '$sd'"$'\n'"$OUT"$'\n'"$ERR"
fi
json_check "exact L4 json" 'round(j["exact"]["correlation"], 3) == 0.981 and round(j["exact"]["sd"], 3) == 1.0 and j["sample_mean"] is None and j["exact"]["samples"] == 0' \
  analyze quantizer --format graham_L4 --exact --json
# U4 = midrise(s=2,lo=-8,hi=7): floor(2x) > 7 iff x >= 4 (overflow), floor(2x) < -8 iff x < -4 (underflow).
json_check "exact U4 clamp fractions" 'abs(j["exact"]["clamped_high"] / (0.5 * math.erfc(4 / math.sqrt(2))) - 1) < 1e-9 and abs(j["exact"]["clamped_low"] / (0.5 * math.erfc(4 / math.sqrt(2))) - 1) < 1e-9' \
  analyze quantizer --format graham_U4 --exact --json
# L4 = log(k=1,lo=-3,hi=4,scale=1.36): floor(log2(1.36|x|)) < -3 iff |x| < 2^-3/1.36 (underflow).
json_check "exact L4 clamped_low" 'abs(j["exact"]["clamped_low"] / math.erf(0.125 / 1.36 / math.sqrt(2)) - 1) < 1e-9' \
  analyze quantizer --format graham_L4 --exact --json
# fp16 overflows to +-inf beyond 65520, so E[Q^2] is infinite: reported as strings, still strict JSON.
json_check "exact fp16 infinite" 'j["exact"]["sd"] == "inf" and j["exact"]["correlation"] == "nan" and j["exact"]["snr_db"] == "-inf"' \
  analyze quantizer --format fp16 --exact --json

# ---- sampling -----------------------------------------------------------------------------------------
json_check "sampled json" 'j["samples"] == 20000 and j["seed"] == 3 and j["repeats"] == 1 and j["sample_sd"] is None and len(j["per_repeat"]) == 1 and j["exact"] is None and 0.95 < j["sample_mean"]["correlation"] < 1 and j["sample_mean"]["samples"] == 20000 and j["distribution"] == "normal" and j["df"] is None' \
  analyze quantizer --format graham_L4 --samples 20000 --seed 3 --json
json_check "student-t repeats json" 'j["repeats"] == 5 and len(j["per_repeat"]) == 5 and j["sample_sd"]["correlation"] > 0 and j["df"] == 2.5 and j["distribution"] == "student-t" and abs(j["sample_mean"]["correlation"] - sum(r["correlation"] for r in j["per_repeat"]) / 5) < 1e-12' \
  analyze quantizer --format graham_L3 --dist student-t --df 2.5 --samples 2000 --repeats 5 --seed 1 --json
json_check "sampled and exact json" 'j["exact"]["samples"] == 0 and abs(j["sample_mean"]["correlation"] - j["exact"]["correlation"]) < 0.01' \
  analyze quantizer --format graham_O4 --samples 1e5 --seed 9 --exact --json
run '' analyze quantizer --format graham_L4 --dist student-t --samples 1000 --repeats 4 --seed 2
if [ "$RC" -eq 0 ] && [ -z "$ERR" ] && grep -q '^correlation(X,Q) .* ± ' <<<"$OUT"; then pass; else fail "repeats table: rc $RC"$'\n'"$OUT"$'\n'"$ERR"; fi
# A seed reproduces the output byte for byte; another seed changes it.
run '' analyze quantizer --format graham_U4 --dist student-t --samples 5000 --seed 77 --json
first=$OUT
run '' analyze quantizer --format graham_U4 --dist student-t --samples 5000 --seed 77 --json
if [ "$OUT" = "$first" ]; then pass; else fail "same seed, different output"; fi
run '' analyze quantizer --format graham_U4 --dist student-t --samples 5000 --seed 78 --json
if [ "$OUT" != "$first" ]; then pass; else fail "different seeds, same output"; fi

# ---- bad options: exit 2, nothing on stdout, the option named ----------------------------------------
A=(analyze quantizer)
expect_error "unknown format" '' '' 'format' "${A[@]}" --format graham_L9 --samples 100
expect_error "no format" '' '' 'format' "${A[@]}" --samples 100
expect_error "samples 1" '' '' 'samples' "${A[@]}" --format graham_L4 --samples 1
expect_error "samples 0" '' '' 'samples' "${A[@]}" --format graham_L4 --samples 0
expect_error "samples negative" '' '' 'samples' "${A[@]}" --format graham_L4 --samples -5
expect_error "samples not a number" '' '' 'samples' "${A[@]}" --format graham_L4 --samples abc
expect_error "samples fractional" '' '' 'samples' "${A[@]}" --format graham_L4 --samples 2.5
expect_error "samples beyond 1e9" '' '' 'samples' "${A[@]}" --format graham_L4 --samples 1000000001
expect_error "no samples without --exact" '' '' 'samples' "${A[@]}" --format graham_L4
expect_error "df 0" '' '' 'df' "${A[@]}" --format graham_L4 --dist student-t --df 0 --samples 100
expect_error "df negative" '' '' 'df' "${A[@]}" --format graham_L4 --dist student-t --df -3 --samples 100
expect_error "df not a number" '' '' 'df' "${A[@]}" --format graham_L4 --dist student-t --df x --samples 100
expect_error "df with normal" '' '' 'df' "${A[@]}" --format graham_L4 --df 3 --samples 100
expect_error "repeats 0" '' '' 'repeats' "${A[@]}" --format graham_L4 --samples 100 --repeats 0
expect_error "unknown dist" '' '' 'dist' "${A[@]}" --format graham_L4 --dist cauchy --samples 100
expect_error "bad seed" '' '' 'seed' "${A[@]}" --format graham_L4 --samples 100 --seed -1
expect_error "exact with student-t" '' '' 'exact' "${A[@]}" --format graham_L4 --dist student-t --samples 100 --exact
expect_error "exact wider than 16 bits" '' '' 'exact.*16 bits' "${A[@]}" --format fp32 --exact
expect_error "exact with wrapping fixed" '' '' 'exact.*monotone' "${A[@]}" --format 'fixed(i=7,f=0,overflow=wrap)' --exact
expect_error "analyze without a subcommand" '' '' '' analyze

finish
