#!/usr/bin/env bash
# The statistics notebooks end to end: two tiny trainings write statistics files (the Banner et al. 2018
# 8-bit scheme and its fp32 baseline), scripts/render-notebooks.sh executes
# notebooks/gradient_statistics.ipynb on the 8-bit file, then both notebooks on the pair, and every
# figure must be a real PNG and every executed notebook free of errors. Also the script's refusals:
# a missing input and a file that is not a statistics file, each with a message naming the problem
# and no OUTDIR left behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3
RENDER=scripts/render-notebooks.sh

if ! "$PY" -c 'import h5py, matplotlib, nbconvert, ipykernel' 2>/dev/null; then
  fail "$PY lacks h5py, matplotlib or Jupyter (scripts/install-deps.sh installs them)"
  finish
  exit 1
fi

# The notebooks are kept in the repository without outputs: the rendered copies hold those.
check "notebooks committed without outputs" "$PY" - notebooks/gradient_statistics.ipynb notebooks/compare_runs.ipynb <<'PY'
import json, sys
for path in sys.argv[1:]:
    nb = json.load(open(path))
    assert nb["nbformat"] == 4, path
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None):
            sys.exit(f"{path}: a code cell has outputs")
PY

# Two short runs logging every 2nd of their 8 steps: 4 logged steps each.
SHRINK=(--set data.limit_train=512 --set data.limit_test=100 --set train.epochs=1 --set data.batch=64
        --set stats.every=2 --threads 2 --no-progress)
train() { # train NAME CONFIG: the run folder is $TMP/NAME
  local rc=0
  "$BITSIM" train "$2" --set run.dir="$TMP/$1" "${SHRINK[@]}" >"$TMP/$1.log" 2>&1 || rc=$?
  check "train $1 exits 0 (log: $(tail -3 "$TMP/$1.log"))" test "$rc" -eq 0
  check "train $1 writes stats.h5" test -s "$TMP/$1/stats.h5"
}
train q8 experiments/banner2018/cnn_q8_rangebn_bif.toml
train fp32 experiments/banner2018/cnn_fp32_bn.toml

# check_png FILE: PNG signature, IHDR width and height > 100 px, and more than 10 kB (an empty figure
# of that size compresses to a few kB).
check_png() {
  check "$(basename "$1"): a PNG of at least 100x100 px and 10 kB" "$PY" - "$1" <<'PY'
import os, struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    head = f.read(24)
if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
    sys.exit(f"{path}: not a PNG")
width, height = struct.unpack(">II", head[16:24])
if width <= 100 or height <= 100 or os.path.getsize(path) <= 10_000:
    sys.exit(f"{path}: {width}x{height} px, {os.path.getsize(path)} bytes")
PY
}

# check_executed NOTEBOOK: every code cell ran and no output is an error.
check_executed() {
  check "$(basename "$1"): executed without errors" "$PY" - "$1" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
code = [c for c in nb["cells"] if c["cell_type"] == "code"]
errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
if errors:
    sys.exit(f"{sys.argv[1]}: {errors[0]['ename']}: {errors[0]['evalue']}")
if not code or any(c["execution_count"] is None for c in code):
    sys.exit(f"{sys.argv[1]}: not every code cell was executed")
PY
}

GRADIENT_PNGS=(hist_E hist_G.weight std_absmax snr_db underflow_saturation)
COMPARE_PNGS=(compare_std_E compare_std_G.weight compare_hist_E)

# One file: the gradient notebook only.
RC=0
"$RENDER" "$TMP/q8/stats.h5" "$TMP/one" >"$TMP/one.out" 2>"$TMP/one.err" || RC=$?
check "render one file exits 0 (stderr: $(tail -5 "$TMP/one.err"))" test "$RC" -eq 0
check_executed "$TMP/one/gradient_statistics.ipynb"
for png in "${GRADIENT_PNGS[@]}"; do
  check_png "$TMP/one/$png.png"
  check "one file: $png.png listed" grep -qF "$TMP/one/$png.png" "$TMP/one.out"
done
check "one file: no compare_runs output" test ! -e "$TMP/one/compare_runs.ipynb"
check "one file: summary table of the last logged step (6)" grep -q '^step 6$' "$TMP/one/summary_last_step.txt"

# Two files: both notebooks, the 8-bit run as A.
RC=0
BITSIM_LABEL_A="8-bit" BITSIM_LABEL_B="fp32" \
  "$RENDER" "$TMP/q8/stats.h5" "$TMP/two" "$TMP/fp32/stats.h5" >"$TMP/two.out" 2>"$TMP/two.err" || RC=$?
check "render two files exits 0 (stderr: $(tail -5 "$TMP/two.err"))" test "$RC" -eq 0
for nb in gradient_statistics compare_runs; do check_executed "$TMP/two/$nb.ipynb"; done
for png in "${GRADIENT_PNGS[@]}" "${COMPARE_PNGS[@]}"; do
  check_png "$TMP/two/$png.png"
  check "two files: $png.png listed" grep -qF "$TMP/two/$png.png" "$TMP/two.out"
done
for ab in "A = 8-bit" "B = fp32"; do
  check "two files: compare_runs names the run '$ab'" grep -q "\"$ab: " "$TMP/two/compare_runs.ipynb"
done
check "no staging folder left behind" bash -c "! ls -d '$TMP'/.render-notebooks.* 2>/dev/null"

# expect_refusal NAME PATTERN OUTDIR ARGS...: non-zero exit, stderr matching PATTERN, no OUTDIR.
expect_refusal() {
  local name=$1 pattern=$2 out=$3 rc=0
  shift 3
  "$RENDER" "$@" >"$TMP/refusal.out" 2>"$TMP/refusal.err" || rc=$?
  check "$name: non-zero exit" test "$rc" -ne 0
  check "$name: stderr matches /$pattern/ (got: $(cat "$TMP/refusal.err"))" grep -Eq -- "$pattern" "$TMP/refusal.err"
  check "$name: no $out" test ! -e "$out"
}
expect_refusal "missing input" "$TMP/absent.h5: no such file" "$TMP/bad1" "$TMP/absent.h5" "$TMP/bad1"
expect_refusal "missing second input" "$TMP/absent.h5: no such file" "$TMP/bad2" "$TMP/q8/stats.h5" "$TMP/bad2" "$TMP/absent.h5"
echo "step,loss" >"$TMP/notes.txt"
expect_refusal "text file" "notes.txt: not a bitsim statistics file" "$TMP/bad3" "$TMP/notes.txt" "$TMP/bad3"
expect_refusal "usage" "usage: render-notebooks.sh" "$TMP/bad4" "$TMP/q8/stats.h5"
finish
