#!/usr/bin/env bash
# Executes the statistics notebooks headless and collects what they draw.
#
#   scripts/render-notebooks.sh STATS.h5 OUTDIR [STATS_B.h5]
#
# Runs notebooks/gradient_statistics.ipynb on STATS.h5 and, when a second file is given,
# notebooks/compare_runs.ipynb with STATS.h5 as run A and STATS_B.h5 as run B. OUTDIR receives the
# executed notebooks and the PNG figures (the files of an existing OUTDIR with other names are kept).
# Everything is rendered into a temporary folder beside OUTDIR first and moved into place only when
# every notebook succeeded, so a failure leaves OUTDIR as it was.
#
# Environment: BITSIM_LABEL_A / BITSIM_LABEL_B name the runs in compare_runs (default: the files'
# run names); BITSIM_PYTHON is the interpreter that runs nbconvert and the kernel (default
# /usr/bin/python3, which has Debian's h5py, matplotlib and Jupyter, unlike a pyenv python3 that may
# come first on PATH).
#
# Exit status: 0 on success, 1 when a notebook fails, 2 for a usage error, a missing or unreadable
# input or a missing dependency.
set -euo pipefail

PROG=$(basename "$0")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NOTEBOOKS=$ROOT/notebooks
DEBIAN_PACKAGES="jupyter-nbconvert python3-ipykernel python3-h5py python3-matplotlib"

die() {
  echo "$PROG: $1" >&2
  exit "${2:-2}"
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $PROG STATS.h5 OUTDIR [STATS_B.h5]" >&2
  echo "  executes notebooks/gradient_statistics.ipynb on STATS.h5 (and notebooks/compare_runs.ipynb" >&2
  echo "  on STATS.h5 vs STATS_B.h5) and writes the executed notebooks and the PNGs into OUTDIR" >&2
  exit 2
fi
INPUTS=("$1")
[ $# -eq 3 ] && INPUTS+=("$3")
OUT=$2

for f in "${INPUTS[@]}"; do
  [ -e "$f" ] || die "$f: no such file"
  [ -f "$f" ] || die "$f: not a regular file"
  [ -r "$f" ] || die "$f: not readable"
done
[ -e "$OUT" ] && [ ! -d "$OUT" ] && die "$OUT: exists and is not a folder"

PY=${BITSIM_PYTHON:-/usr/bin/python3}
if [ ! -x "$PY" ]; then
  PY=$(command -v python3 || true)
  [ -n "$PY" ] || die "no python3 found; on Debian/Ubuntu: sudo apt-get install $DEBIAN_PACKAGES"
fi
# Jupyter (nbconvert and the ipykernel kernel) plus what the notebooks import.
missing=$("$PY" - <<'EOF'
import importlib.util
need = {"nbconvert": "jupyter-nbconvert", "nbclient": "jupyter-nbconvert", "ipykernel": "python3-ipykernel",
        "h5py": "python3-h5py", "matplotlib": "python3-matplotlib", "numpy": "python3-numpy"}
print(" ".join(f"{m} ({p})" for m, p in need.items() if importlib.util.find_spec(m) is None))
EOF
) || die "cannot run $PY"
if [ -n "$missing" ]; then
  die "$PY lacks the Python modules: $missing. Jupyter and the notebooks' libraries are needed; on Debian/Ubuntu: sudo apt-get install $DEBIAN_PACKAGES (scripts/install-deps.sh installs them)"
fi

abs_path() { # of a path whose folder exists
  printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd -P)" "$(basename "$1")"
}
ABS_INPUTS=()
for f in "${INPUTS[@]}"; do ABS_INPUTS+=("$(abs_path "$f")"); done

# Reject a file that is not a statistics file here, with the reader's one-line reason, rather than as
# a traceback from inside a notebook.
if ! errors=$(PYTHONDONTWRITEBYTECODE=1 "$PY" "$NOTEBOOKS/bitsim_stats.py" "${ABS_INPUTS[@]}" 2>&1 >/dev/null); then
  while IFS= read -r line; do echo "$PROG: ${line#error: }" >&2; done <<<"$errors"
  exit 2
fi

mkdir -p "$(dirname "$OUT")"
OUT=$(abs_path "$OUT")
STAGE=$(mktemp -d "$(dirname "$OUT")/.render-notebooks.XXXXXX")
chmod "$(printf '%o' $((0777 & ~0$(umask))))" "$STAGE" # mktemp's 0700 would become OUTDIR's mode
KERNEL_HOME=$(mktemp -d)
trap 'rm -rf "$STAGE" "$KERNEL_HOME"' EXIT

# A kernel spec of our own, first on JUPYTER_PATH, so that the kernel named python3 is $PY whatever a
# user-level kernel spec says (one that points at another interpreter would lack h5py).
mkdir -p "$KERNEL_HOME/kernels/python3" "$KERNEL_HOME/runtime"
cat >"$KERNEL_HOME/kernels/python3/kernel.json" <<EOF
{"argv": ["$PY", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Python 3 (bitsim render)", "language": "python"}
EOF
export JUPYTER_PATH="$KERNEL_HOME${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_RUNTIME_DIR="$KERNEL_HOME/runtime"
export PYDEVD_DISABLE_FILE_VALIDATION=1 # silences debugpy's frozen-modules warning in the log
export PYTHONDONTWRITEBYTECODE=1        # no __pycache__ in notebooks/ from importing bitsim_stats
export MPLBACKEND=Agg
export BITSIM_FIGURES="$STAGE"

# run_notebook NAME VAR=VALUE...: executes notebooks/NAME.ipynb into $STAGE with the given variables.
run_notebook() {
  local name=$1
  shift
  local log="$KERNEL_HOME/$name.log"
  echo "$PROG: executing notebooks/$name.ipynb" >&2
  if ! env "$@" "$PY" -m nbconvert --to notebook --execute \
    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 \
    --output-dir "$STAGE" --output "$name" "$NOTEBOOKS/$name.ipynb" >"$log" 2>&1; then
    echo "$PROG: notebook $name failed (nothing written to $OUT); the end of its log:" >&2
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -v '^\[NbConvertApp\]' | tail -n 25 >&2
    exit 1
  fi
}

run_notebook gradient_statistics "BITSIM_STATS=${ABS_INPUTS[0]}"
if [ ${#ABS_INPUTS[@]} -eq 2 ]; then
  run_notebook compare_runs "BITSIM_STATS_A=${ABS_INPUTS[0]}" "BITSIM_STATS_B=${ABS_INPUTS[1]}"
fi

# The notebooks printed where they saved each figure: point those lines at OUTDIR, not the stage.
"$PY" - "$STAGE" "$OUT" "$STAGE"/*.ipynb <<'EOF'
import sys
stage, out, *notebooks = sys.argv[1:]
for path in notebooks:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(stage, out))
EOF

shopt -s nullglob
written=("$STAGE"/*)
pngs=("$STAGE"/*.png)
[ ${#pngs[@]} -gt 0 ] || die "the notebooks wrote no figure (see the executed notebooks)" 1
if [ -d "$OUT" ]; then
  for f in "${written[@]}"; do mv -f "$f" "$OUT/"; done
else
  mv "$STAGE" "$OUT"
fi

echo "figures written to $OUT:"
for f in "${pngs[@]}"; do echo "  $OUT/$(basename "$f")"; done
echo "executed notebooks:"
for f in "${written[@]}"; do [[ $f == *.ipynb ]] && echo "  $OUT/$(basename "$f")"; done
exit 0
