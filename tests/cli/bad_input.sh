#!/usr/bin/env bash
# The bad-input catalogue (docs/RELIABILITY.md): every kind of malformed input a user can hand bitsim,
# each of which must give exit status 2, a message on stderr that names what is wrong (the pattern
# below), no sign of a crash (signal, uncaught exception, sanitizer report) and no output file left
# behind, half-written or whole. Format-spec syntax is covered key by key in errors.sh, quantize input
# lines in quantize_io.sh; this file covers every other input and repeats one case of each of those.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CASES=0
# bad NAME ERE [--in TEXT] [--absent PATH]... [--same PATH]... -- ARGS...
#   runs `bitsim ARGS...` (stdin TEXT) and expects exit 2, stderr matching ERE, no crash signature;
#   every --absent PATH must not exist afterwards, every --same PATH must be byte-identical to before.
bad() {
  local name=$1 pattern=$2 input="" absent=() same=() p
  shift 2
  while [ "$1" != -- ]; do
    case $1 in
      --in) input=$2; shift 2 ;;
      --absent) absent+=("$2"); shift 2 ;;
      --same) same+=("$2"); shift 2 ;;
      *) echo "bad(): unknown option $1" >&2; exit 1 ;;
    esac
  done
  shift
  CASES=$((CASES + 1))
  local sums=()
  for p in "${same[@]}"; do sums+=("$(sha256sum "$p" | cut -d' ' -f1)"); done
  run "$input" "$@"
  local problems=""
  [ "$RC" -eq 2 ] || problems+=" exit status $RC (expected 2);"
  [ -n "$ERR" ] || problems+=" no message;"
  if [ -n "$ERR" ] && ! grep -Eq -- "$pattern" <<<"$ERR"; then problems+=" message does not match /$pattern/;"; fi
  if grep -Eq 'terminate called|Sanitizer|runtime error:|Segmentation|Aborted|core dumped' <<<"$ERR"; then
    problems+=" crash signature;"
  fi
  for p in "${absent[@]}"; do [ ! -e "$p" ] || problems+=" left $p behind;"; done
  local i
  for i in "${!same[@]}"; do
    [ "$(sha256sum "${same[$i]}" | cut -d' ' -f1)" = "${sums[$i]}" ] || problems+=" changed ${same[$i]};"
  done
  if [ -n "$problems" ]; then fail "$name:$problems stderr: $ERR"; else pass; fi
}

small() {  # small NAME [EXTRA TOML]: a valid 1-epoch config on the real data set, plus EXTRA
  printf 'name = "%s"\nseed = 3\nthreads = 1\n[model]\nname = "mlp"\nwidth = 16\n[data]\nbatch = 32\nlimit_train = 96\nlimit_test = 32\n%s\n' \
    "$1" "${2:-}" >"$TMP/$1.toml"
}
small good
small bad_role '[formats]
W = "float(e=4)"'

# ---- number formats ----------------------------------------------------------------------------------
bad "format: unclosed constructor" "float" -- quantize --format 'float(e=4,m=3'
bad "format: unknown alias" "fp9" -- quantize --format fp9
bad "format: empty" "format" -- quantize --format ''
bad "format: exponent width 0" "'e'|e =|e=" -- quantize --format 'float(e=0,m=3)'
bad "format: fraction width beyond 112" "'m'|m =|m=" -- quantize --format 'float(e=4,m=113)'
bad "format: fixed width 71 > 64" "'i'|'f'|width" -- quantize --format 'fixed(i=60,f=10)'
bad "format: negative fixed width" "'i'|'f'|width" -- quantize --format 'fixed(i=-3,f=0)'
bad "format: bad role format in a config" "bad_role\.toml:[0-9]+:.*formats\.W" -- train "$TMP/bad_role.toml" --no-progress

# ---- values a format cannot take ---------------------------------------------------------------------
bad "NaN into int8 (no NaN)" "line 1.*NaN|line 1.*nan" --in $'nan\n' -- quantize --format int8
bad "NaN into fp4_e2m1 (special=none)" "line 2.*NaN|line 2.*nan" --in $'1\nnan\n' -- quantize --format fp4_e2m1
bad "Inf into a wrapping fixed format" "line 1.*(inf|Inf)" --in $'-inf\n' -- quantize --format 'fixed(i=3,f=4,overflow=wrap)'
bad "not a number" "line 1.*1\.2\.3" --in $'1.2.3\n' -- quantize --format fp16
printf '1 nan\n2 3\n' >"$TMP/a_nan.txt"
printf '1 0\n0 1\n' >"$TMP/b_eye.txt"
bad "gemm: NaN in A of an int8 operand" "A\[0\]\[1\].*NaN.*int8.*a_nan\.txt" -- gemm --a "$TMP/a_nan.txt" --b "$TMP/b_eye.txt" \
  --a-format int8 --b-format int8 --acc int32 --out-format int32
printf '1 2\n3\n' >"$TMP/ragged.txt"
bad "gemm: ragged matrix" "ragged\.txt.*(row|line) 2" -- gemm --a "$TMP/ragged.txt" --b "$TMP/b_eye.txt" \
  --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32
bad "gemm: missing matrix file" "absent\.txt" -- gemm --a "$TMP/absent.txt" --b "$TMP/b_eye.txt" \
  --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32

# ---- configs -----------------------------------------------------------------------------------------
printf 'name = "x"\nepohcs = 3\n' >"$TMP/unknown_top.toml"
bad "config: unknown top-level key" "unknown_top\.toml:2:.*epohcs" --absent "$TMP/r_unknown_top" -- \
  train "$TMP/unknown_top.toml" --set run.dir="$TMP/r_unknown_top" --no-progress
printf 'name = "x"\n[trian]\nepochs = 3\n' >"$TMP/unknown_section.toml"
bad "config: unknown section" "unknown_section\.toml:2:.*trian" -- train "$TMP/unknown_section.toml" --no-progress
printf 'name = "x"\n[optimizer]\nlr = -0.1\n' >"$TMP/neg_lr.toml"
bad "config: negative learning rate" "neg_lr\.toml:3:.*optimizer\.lr" --absent "$TMP/r_neg_lr" -- \
  train "$TMP/neg_lr.toml" --set run.dir="$TMP/r_neg_lr" --no-progress
printf 'name = "x"\n[data]\nbatch = 0\n' >"$TMP/zero_batch.toml"
bad "config: zero batch size" "zero_batch\.toml:3:.*data\.batch" -- train "$TMP/zero_batch.toml" --no-progress
printf 'name = "x"\n[train]\nepochs = 0\n' >"$TMP/zero_epochs.toml"
bad "config: zero epochs" "zero_epochs\.toml:3:.*train\.epochs" -- train "$TMP/zero_epochs.toml" --no-progress
printf 'name = "x"\n[optimizer]\nlr = "fast"\n' >"$TMP/lr_type.toml"
bad "config: learning rate of the wrong type" "lr_type\.toml:3:.*optimizer\.lr" -- train "$TMP/lr_type.toml" --no-progress
printf 'name = "x"\n[optimizer]\nlr = nan\n' >"$TMP/lr_nan.toml"
bad "config: NaN learning rate" "lr_nan\.toml:3:.*optimizer\.lr" -- train "$TMP/lr_nan.toml" --no-progress
printf 'name = "x"\n[model]\nname = "vgg"\n' >"$TMP/model.toml"
bad "config: unknown model" "model\.toml:3:.*model\.name" -- train "$TMP/model.toml" --no-progress
printf 'name = "x"\n[formats]\nE = { format = "fp8_e5m2", rounding = "sr", sr_bits = 0 }\n' >"$TMP/sr_bits.toml"
bad "config: sr_bits 0" "sr_bits\.toml:3:.*sr_bits" -- train "$TMP/sr_bits.toml" --no-progress
printf 'name = "x"\n[formats]\nG = { format = "graham_L4", rounding = "sr" }\n' >"$TMP/graham_sr.toml"
bad "config: stochastic rounding on a Graham format" "graham_sr\.toml:3:.*formats\.G" -- train "$TMP/graham_sr.toml" --no-progress
printf 'name = "x"\nseed = [1\n' >"$TMP/syntax.toml"
bad "config: TOML syntax error" "syntax\.toml:[0-9]+:" -- train "$TMP/syntax.toml" --no-progress
printf 'name = "x"\nname = "y"\n' >"$TMP/dup.toml"
bad "config: duplicate key" "dup\.toml:2:" -- train "$TMP/dup.toml" --no-progress
bad "config: missing file" "absent\.toml" -- train "$TMP/absent.toml" --no-progress
bad "config: --set of an unknown key" "optimizer\.lrr" -- train "$TMP/good.toml" --set optimizer.lrr=0.1 --no-progress
bad "config: --set without '='" "--set.*optimizer\.lr" -- train "$TMP/good.toml" --set optimizer.lr --no-progress
printf 'name = "x"\n[hazards]\nsaturation = 1.5\n' >"$TMP/hazard_range.toml"
bad "config: saturation limit above 1" "hazard_range\.toml:3:.*hazards\.saturation" -- train "$TMP/hazard_range.toml" --no-progress
printf 'name = "x"\n[hazards]\non_nonfinite = "ignore"\n' >"$TMP/hazard_action.toml"
bad "config: unknown hazard action" "hazard_action\.toml:3:.*hazards\.on_nonfinite" -- train "$TMP/hazard_action.toml" --no-progress

# ---- data sets ---------------------------------------------------------------------------------------
# Fashion-MNIST-shaped folders with one thing wrong each (files written by the helper below).
mkidx() {  # mkidx DIR KIND...: writes train/test IDX files into DIR; KIND alters them
  /usr/bin/python3 - "$@" <<'PYEOF'
import gzip, os, struct, sys
d, kinds = sys.argv[1], set(sys.argv[2:])
os.makedirs(d, exist_ok=True)
def images(n, r, c): return struct.pack(">IIII", 0x803, n, r, c) + bytes((k * 7) % 256 for k in range(n * r * c))
def labels(n, top=10): return struct.pack(">II", 0x801, n) + bytes(k % top for k in range(n))
for split, n in (("train", 64), ("t10k", 32)):
    side = 32 if ("test_32" in kinds and split == "t10k") else 28
    img, lab = images(n, side, side), labels(n, 12 if "label_12" in kinds else 10)
    if "truncated" in kinds and split == "train": img = img[:-100]
    if "trailing" in kinds and split == "train": img += b"extra"
    if "bad_magic" in kinds and split == "train": img = struct.pack(">I", 0x1234) + img[4:]
    if "swapped" in kinds and split == "train": img, lab = lab, img
    if "count_mismatch" in kinds and split == "train": lab = labels(n - 1)
    if "huge_header" in kinds and split == "train": img = struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF)
    data = {"images": gzip.compress(img, mtime=0), "labels": gzip.compress(lab, mtime=0)}
    if "corrupt_gzip" in kinds and split == "train":
        z = bytearray(data["images"]); z[len(z) // 2] ^= 0xFF; z[len(z) // 2 + 1] ^= 0x55; data["images"] = bytes(z)
    if "gzip_cut" in kinds and split == "train": data["images"] = data["images"][: len(data["images"]) // 2]
    for what, suffix in (("images", "idx3"), ("labels", "idx1")):
        if "missing_labels" in kinds and what == "labels" and split == "t10k": continue
        with open(os.path.join(d, f"{split}-{what}-{suffix}-ubyte.gz"), "wb") as f: f.write(data[what])
PYEOF
}
dataset_case() {  # dataset_case NAME ERE KIND...
  local name=$1 pattern=$2
  shift 2
  mkidx "$TMP/ds_$name" "$@"
  bad "data: $name" "$pattern" --absent "$TMP/r_ds_$name" -- train "$TMP/good.toml" --set data.dir="$TMP/ds_$name" \
    --set run.dir="$TMP/r_ds_$name" --no-progress
}
mkidx "$TMP/ds_fine"
run "" train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_fine" --no-progress --quiet
check "data: the unaltered synthetic folder trains (rc $RC: $ERR)" test "$RC" -eq 0
dataset_case truncated "train-images.*truncated" truncated
dataset_case trailing_garbage "train-images.*trailing" trailing
dataset_case bad_magic "train-images.*magic" bad_magic
dataset_case swapped "train-images.*(swapped|label)" swapped
dataset_case label_out_of_range "label.*(12|11|10)" label_12
dataset_case count_mismatch "train-(images|labels).*(count|differ|64|63)" count_mismatch
dataset_case absurd_header "train-images.*(too large|2\^31|absurd|bytes)" huge_header
dataset_case corrupt_gzip "train-images" corrupt_gzip
dataset_case cut_gzip "train-images.*(truncated|end)" gzip_cut
dataset_case missing_file "t10k-labels.*(not found|missing|install)" missing_labels
dataset_case wrong_image_size "t10k-images.*32x32.*train-images.*28x28" test_32
mkdir -p "$TMP/empty_dir"
bad "data: empty data.dir" "train-(images|labels).*not found" -- train "$TMP/good.toml" --set data.dir="$TMP/empty_dir" --no-progress
mkdir -p "$TMP/cifar/cifar-10-batches-bin"
head -c 3000 /dev/zero >"$TMP/cifar/cifar-10-batches-bin/data_batch_1.bin"
bad "data: CIFAR batch of the wrong size" "data_batch_1\.bin.*3073" -- train "$TMP/good.toml" --set data.dataset=cifar10 \
  --set data.dir="$TMP/cifar" --no-progress

# ---- checkpoints and run folders ---------------------------------------------------------------------
bad "checkpoint: --resume without one" "checkpoint\.bin.*no checkpoint" --absent "$TMP/r_none" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_none" --resume --no-progress
run "" train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --set train.stop_after_steps=1 --no-progress --quiet
check "checkpoint: a stopped run leaves one (rc $RC)" test -s "$TMP/r_ck/checkpoint.bin"
cp "$TMP/r_ck/checkpoint.bin" "$TMP/ck_whole.bin"
head -c 200 "$TMP/ck_whole.bin" >"$TMP/r_ck/checkpoint.bin"
bad "checkpoint: truncated" "checkpoint\.bin" --same "$TMP/r_ck/checkpoint.bin" --absent "$TMP/r_ck/result.json" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --resume --no-progress
cp "$TMP/ck_whole.bin" "$TMP/r_ck/checkpoint.bin"
printf '\x5a' | dd of="$TMP/r_ck/checkpoint.bin" bs=1 seek=300 conv=notrunc status=none
bad "checkpoint: one byte flipped" "checkpoint\.bin" --same "$TMP/r_ck/checkpoint.bin" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --resume --no-progress
cp "$TMP/ck_whole.bin" "$TMP/r_ck/checkpoint.bin"
bad "checkpoint: of another config" "checkpoint\.bin.*(config|differ)" --same "$TMP/r_ck/checkpoint.bin" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --set optimizer.lr=0.2 --resume --no-progress
bad "run folder: would overwrite a checkpoint" "already holds a checkpoint" --same "$TMP/r_ck/checkpoint.bin" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --no-progress
bad "run folder: the command names its options" "--resume continues it, --overwrite starts again" --same "$TMP/r_ck/checkpoint.bin" -- \
  train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_ck" --no-progress
: >"$TMP/a_file"
bad "run folder: a file is in the way" "a_file" -- train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" \
  --set run.dir="$TMP/a_file/run" --no-progress

# ---- statistics files --------------------------------------------------------------------------------
printf 'not hdf5\n' >"$TMP/text.h5"
bad "stats: not an HDF5 file" "text\.h5" --absent "$TMP/o1.csv" -- stats "$TMP/text.h5" --csv "$TMP/o1.csv"
/usr/bin/python3 -c "import h5py, sys; f = h5py.File(sys.argv[1], 'w'); f['x'] = [1, 2, 3]; f.attrs['schema'] = 'other'" "$TMP/foreign.h5"
bad "stats: an HDF5 file that is not ours" "foreign\.h5.*(not a bitsim|statistics)" --absent "$TMP/o2.csv" -- \
  stats "$TMP/foreign.h5" --csv "$TMP/o2.csv"
bad "stats: missing file" "absent\.h5" -- stats "$TMP/absent.h5"
run "" train "$TMP/good.toml" --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_st" --set stats.every=1 --no-progress --quiet
check "stats: a run with statistics (rc $RC)" test -s "$TMP/r_st/stats.h5"
head -c 4000 "$TMP/r_st/stats.h5" >"$TMP/cut.h5"
bad "stats: truncated file" "cut\.h5" --absent "$TMP/o3.csv" -- stats "$TMP/cut.h5" --csv "$TMP/o3.csv"
bad "stats: a step that was not logged" "step 999" --absent "$TMP/o4.csv" -- stats "$TMP/r_st/stats.h5" --step 999 --csv "$TMP/o4.csv"
bad "stats: unknown role" "role.*XY" -- stats "$TMP/r_st/stats.h5" --role XY

# ---- sweeps and golden bundles -----------------------------------------------------------------------
printf 'title = "s"\nseeds = [1]\nout = "%s"\nruns_root = "%s"\n[[row]]\nid = "a"\nconfig = "absent.toml"\n' "$TMP/sw" "$TMP/swr" >"$TMP/sweep.toml"
bad "sweep: a row's config is missing" "sweep\.toml:[0-9]+:.*absent\.toml" --absent "$TMP/sw/table.md" -- \
  sweep "$TMP/sweep.toml" --out "$TMP/sw"
printf 'title = "s"\nbogus = 1\n' >"$TMP/sweep2.toml"
bad "sweep: unknown key" "sweep2\.toml:2:.*bogus" -- sweep "$TMP/sweep2.toml" --out "$TMP/sw2"
bad "golden: bad format leaves no bundle" "a-format|fp9" --absent "$TMP/bundle" -- golden gemm --a-format fp9 \
  --b-format fp16 --acc fp32 --out-format fp32 --out "$TMP/bundle"
bad "golden: a malformed aligned order names the key, leaves no bundle" "--order: aligned: key 'beyond'" --absent "$TMP/bundle" -- \
  golden gemm --a-format fp16 --b-format fp16 --acc fp32 --order 'aligned(group=4,width=24,beyond=up)' --out-format fp32 \
  --out "$TMP/bundle"

# ---- what a new user tripped over (issue 21): each case failed before its fix -------------------------
# 1. Sizes whose products overflow, or beyond a stated limit: named, before anything is allocated.
bad "golden gemm: --m 2^63-1" "--m x --k \(A\).*limit of 2\^24" --absent "$TMP/g_huge" -- golden gemm --m 9223372036854775807 \
  --k 2 --n 2 --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32 --out "$TMP/g_huge"
bad "golden gemm: --m 2^62 --k 4 (the product overflows)" "--m x --k \(A\)" --absent "$TMP/g_huge" -- golden gemm \
  --m 4611686018427387904 --k 4 --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32 --out "$TMP/g_huge"
bad "golden conv: a weight tensor of 4096 x 64^3 elements" "w would have 1073741824 elements.*limit of 2\^22" --absent "$TMP/g_huge" -- \
  golden conv --n 1 --c 64 --h 64 --w 64 --k 4096 --kh 64 --kw 64 --pad 0 --a-format fp16 --b-format fp16 --acc fp32 \
  --out-format fp32 --out "$TMP/g_huge"
bad "vectors: --count 2^64-1" "--count 18446744073709551615.*2\^32" -- vectors mul --format fp8_e4m3 --count 18446744073709551615
bad "config: a model width whose weights exceed 2^28" "key 'model\.width'.*2\^28" --absent "$TMP/r_wide" -- train \
  "$TMP/good.toml" --set model.width=1048576 --set run.dir="$TMP/r_wide" --no-progress
# 2. A directory (or a device) where a file is expected.
mkdir -p "$TMP/a_dir"
bad "train: a directory as the config" "a_dir: is a directory, not a file" --absent runs/run -- train "$TMP/a_dir"
bad "train: /dev/null as the config" "/dev/null: is a character device" --absent runs/run -- train /dev/null
printf 'extends = "a_dir"\n' >"$TMP/ext_dir.toml"
bad "config: extends a directory" "ext_dir\.toml:1: key 'extends'.*a_dir: is a directory" --absent runs/run -- train "$TMP/ext_dir.toml"
bad "check: a directory of vectors" "a_dir: is a directory" -- check mul --format fp8_e4m3 "$TMP/a_dir"
bad "gemm: a directory as a matrix" "a_dir: is a directory" -- gemm --a "$TMP/a_dir" --b "$TMP/b_eye.txt" --a-format fp16 \
  --b-format fp16 --acc fp32 --out-format fp32
bad "sweep: a directory as the sweep file" "a_dir: is a directory" -- sweep "$TMP/a_dir"
# 3. A check that checked nothing fails.
: >"$TMP/empty.hex"
bad "check: no vectors" "empty\.hex: no vectors.*--allow-empty" -- check mul --format fp8_e4m3 "$TMP/empty.hex"
run "" check mul --format fp8_e4m3 --allow-empty "$TMP/empty.hex"
check "check --allow-empty: an empty file passes (rc $RC)" test "$RC" -eq 0
# 5. Outputs replace regular files only: devices, FIFOs and folders are refused before anything is
# written (and stay what they were); a link is followed and stays a link (stats.sh: --csv).
bad "train: stats.file is a device" "/dev/full: is a character device" --absent "$TMP/r_full" -- train "$TMP/good.toml" \
  --set stats.every=1 --set stats.file=/dev/full --set run.dir="$TMP/r_full" --no-progress
check "/dev/full is still a device" test -c /dev/full
bad "stats: --csv to a device" "/dev/full: is a character device" -- stats "$TMP/r_st/stats.h5" --csv /dev/full
mkdir -p "$TMP/r_dirs" && mkdir -p "$TMP/r_dirs/metrics.csv"
bad "train: a folder where the run writes metrics.csv" "metrics\.csv: is a directory" -- train "$TMP/good.toml" \
  --set data.dir="$TMP/ds_fine" --set run.dir="$TMP/r_dirs" --no-progress
check "the folder in the way is untouched" test -d "$TMP/r_dirs/metrics.csv"
: >"$TMP/plain_file"
bad "golden: --out is a regular file" "plain_file" --same "$TMP/plain_file" -- golden gemm --a-format fp16 --b-format fp16 \
  --acc fp32 --out-format fp32 --out "$TMP/plain_file"
# 6. Options that would do nothing.
bad "gemm: --chunk without --order blocked" "--chunk 4: applies only to --order blocked" -- gemm --a "$TMP/b_eye.txt" \
  --b "$TMP/b_eye.txt" --a-format fp16 --b-format fp16 --acc fp32 --out-format fp32 --chunk 4
bad "quantize: --seed without --rounding sr" "--seed applies only to --rounding sr" --in $'1\n' -- quantize --format fp16 --seed 3
bad "quantize: --random-words without --rounding sr" "--random-words applies only" --in $'1\n' -- quantize --format fp16 \
  --random-words "$TMP/absent_words"
# 7. Formats without a finite non-zero value.
bad "format: float(e=1,m=0) holds no finite non-zero value" "no finite non-zero value" -- formats describe 'float(e=1,m=0)'
# 8. A run name is one path component.
bad "config: a run name with ../" "key 'name'.*not a run name" --absent "$TMP/x_escaped" -- train "$TMP/good.toml" \
  --set 'name="../../x_escaped"' --no-progress
# 9. Offending text is quoted in at most 80 characters, not echoed whole.
head -c 10000000 /dev/zero | tr '\0' 'x' >"$TMP/huge_line"
echo >>"$TMP/huge_line"
run "$(cat "$TMP/huge_line")" quantize --format fp16
check "a 10 MB garbage line: exit 2 ($RC), a message of at most 300 bytes (${#ERR})" test "$RC" -eq 2 -a "${#ERR}" -le 300
grep -q "10000000 bytes in all" <<<"$ERR" && pass || fail "a 10 MB garbage line: the message does not give its length: $ERR"
# 10. A model that cannot train on the data set is an error when the config is read, naming the layer.
cat >"$TMP/three_out.toml" <<'EOF'
[model]
name = "custom"
layers = [ { type = "flatten" }, { type = "linear", out = 3 } ]
EOF
bad "config: the last layer has 3 outputs for 10 classes" "three_out\.toml:3: key 'model\.layers\[1\]'.*3 outputs.*10 classes" \
  --absent runs/run -- train "$TMP/three_out.toml"

echo "bad_input.sh: $CASES catalogue cases"
finish
