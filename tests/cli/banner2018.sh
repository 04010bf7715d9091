#!/usr/bin/env bash
# The smoke version of the Banner et al. 2018 experiment: `bitsim sweep` runs two
# rows of the CNN plan (fp32 + BN and the 8-bit scheme with Range BN and bifurcation) for two seeds on a
# slice of Fashion-MNIST with a narrow CNN, writes table.md and table.csv, skips finished runs when run
# again, and refuses a bad plan with exit status 2. The full experiment is the same command without
# the --set shrinking it (experiments/banner2018/README.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

SHRINK=(--set model.width=4 --set data.limit_train=640 --set data.limit_test=300 --set train.epochs=1)
ARGS=(sweep experiments/banner2018/cnn_table_small.toml --only fp32_bn,q8_rangebn_bif --seeds 1,2
      --threads 2 --out "$TMP/table" --runs-root "$TMP/runs" "${SHRINK[@]}")
RC=0
"$BITSIM" "${ARGS[@]}" >"$TMP/log1" 2>&1 || RC=$?
check "first run exits 0 (log: $(tail -3 "$TMP/log1"))" test "$RC" -eq 0
for f in table.md table.csv; do check "$f written" test -s "$TMP/table/$f"; done
for run in fp32_bn/seed1 fp32_bn/seed2 q8_rangebn_bif/seed1 q8_rangebn_bif/seed2; do
  check "$run: result.json" test -s "$TMP/runs/$run/result.json"
done
# The 8-bit run used the scheme: its layer table names the range roles, Range BN and bifurcation.
check "8-bit run: range roles in model.txt" grep -q 'DY=range(bits=8) sr' "$TMP/runs/q8_rangebn_bif/seed1/model.txt"
check "8-bit run: bifurcation in the conv layers" grep -Eq '^ +0  conv1 .* bifurcate' "$TMP/runs/q8_rangebn_bif/seed1/model.txt"
check "8-bit run: Range BN" grep -Eq '^ +1  bn1 .*BN_SCALE=range\(bits=8\).* range-BN' "$TMP/runs/q8_rangebn_bif/seed1/model.txt"
# Two rows with 2 results each, the others "not run"; the CSV has the two measured rows' n = 2.
check "table: fp32 row has 2 runs" grep -q '^fp32_bn,fp32 + BN,2,' "$TMP/table/table.csv"
check "table: 8-bit row has 2 runs" grep -q '^q8_rangebn_bif,.*,2,' "$TMP/table/table.csv"
check "table: unrun rows say so" grep -q 'not run' "$TMP/table/table.md"
# The mean error in the CSV is the mean of the two runs' errors from result.json.
want=$(python3 - "$TMP/runs/fp32_bn" <<'PY'
import json, sys
errs = [100 * (1 - json.load(open(f"{sys.argv[1]}/seed{s}/result.json"))["test_accuracy"]) for s in (1, 2)]
print(f"{sum(errs) / 2:.2f}")
PY
)
got=$(python3 -c "import csv,sys; r=[x for x in csv.DictReader(open('$TMP/table/table.csv')) if x['id']=='fp32_bn'][0]; print(f\"{float(r['err_mean']):.2f}\")")
check "table: fp32 mean error $got equals the runs' mean $want" test "$got" = "$want"

# Again: nothing is run (every result exists), the same table comes out.
cp "$TMP/table/table.csv" "$TMP/first.csv"
RC=0
"$BITSIM" "${ARGS[@]}" >"$TMP/log2" 2>&1 || RC=$?
check "second run exits 0" test "$RC" -eq 0
check "second run skips finished runs" test "$(grep -c 'skip' "$TMP/log2")" -eq 4
check "second run: same table" cmp -s "$TMP/table/table.csv" "$TMP/first.csv"

# A bad plan: exit status 2 and a message naming the problem.
printf 'seeds = [1]\nout = "x"\nruns_root = "y"\n[[row]]\nid = "a"\nconfig = "missing.toml"\n' >"$TMP/bad.toml"
RC=0
"$BITSIM" sweep "$TMP/bad.toml" >"$TMP/out" 2>"$TMP/err" || RC=$?
check "bad plan: exit 2" test "$RC" -eq 2
check "bad plan: names the missing config" grep -q 'missing.toml' "$TMP/err"

finish
