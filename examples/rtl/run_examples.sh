#!/usr/bin/env bash
# run_examples.sh: builds and runs the two RTL test-bench examples against bitsim, the golden model.
#
#   run_examples.sh BITSIM_EXE LIBBITSIM_C_SO_DIR CABI_INCLUDE_DIR WORKDIR
#
# 1. writes the exhaustive fp8_e4m3 multiplication vectors with `bitsim vectors` (WORKDIR/vectors.hex);
# 2. for BUG=0 and BUG=1 (the DUT's deliberate ties-away-from-zero rounding bug):
#      tb_readmemh.v  (Icarus Verilog, reads vectors.hex with $readmemh)
#      tb_dpi.sv      (Verilator, calls bitsim_op from libbitsim_c.so through DPI-C)
# 3. checks the four outcomes: BUG=0 must pass (0 mismatches, success), BUG=1 must be caught
#    (mismatches > 0, failure status / FAIL marker). Exits 0 only if all four are as expected.
# All build output (Icarus' .vvp, Verilator's object dirs, logs) stays under WORKDIR.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "run_examples: ERROR: $*" >&2; exit 1; }

[ $# -eq 4 ] || die "usage: run_examples.sh BITSIM_EXE LIBBITSIM_C_SO_DIR CABI_INCLUDE_DIR WORKDIR"
bitsim=$1
libdir=$2
incdir=$3
work=$4

# ---- prerequisites: missing tools are a failure, not a skip ----------------------------------------
for tool in verilator iverilog vvp make; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found in PATH: the RTL examples need Verilator (>= 5.0, for --timing) and Icarus Verilog (apt-get install verilator iverilog)"
done
[ -x "$bitsim" ] || die "bitsim executable '$bitsim' not found or not executable"
[ -f "$libdir/libbitsim_c.so" ] || die "'$libdir/libbitsim_c.so' not found (CMake target bitsim_c)"
[ -f "$incdir/bitsim.h" ] || die "'$incdir/bitsim.h' not found"
bitsim=$(cd "$(dirname "$bitsim")" && pwd)/$(basename "$bitsim")
libdir=$(cd "$libdir" && pwd)
incdir=$(cd "$incdir" && pwd)
mkdir -p "$work" || die "cannot create '$work'"
work=$(cd "$work" && pwd)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
t_start=$(now)

echo "run_examples: verilator: $(verilator --version)"
echo "run_examples: iverilog:  $(iverilog -V 2>/dev/null | head -n 1)"
echo "run_examples: bitsim $bitsim, libbitsim_c.so in $libdir, bitsim.h in $incdir, work dir $work"

# ---- 1. vectors --------------------------------------------------------------------------------------
vectors=$work/vectors.hex
count=65536
t=$(now)
echo "run_examples: \$ $bitsim vectors mul --format fp8_e4m3 --exhaustive > $vectors"
"$bitsim" vectors mul --format fp8_e4m3 --exhaustive >"$vectors" 2>"$work/vectors.err" ||
  die "bitsim vectors failed (status $?): $(head -c 2000 "$work/vectors.err")"
lines=$(wc -l <"$vectors")
[ "$lines" -eq "$count" ] || die "bitsim vectors wrote $lines lines, expected $count"
bad=$(grep -cvE '^[0-9A-F]{2} [0-9A-F]{2} [0-9A-F]{2} [0-9A-F]{2}$' "$vectors")
[ "$bad" -eq 0 ] || die "$bad lines of $vectors are not 'AA BB RR FF' (upper-case hex): $(grep -vE '^[0-9A-F]{2} [0-9A-F]{2} [0-9A-F]{2} [0-9A-F]{2}$' "$vectors" | head -n 3)"
echo "run_examples: $count vectors written ($(elapsed "$t"))"

failures=0
report() {  # report OK|UNEXPECTED message
  if [ "$1" = OK ]; then
    echo "run_examples: OK: $2"
  else
    echo "run_examples: UNEXPECTED: $2"
    failures=$((failures + 1))
  fi
}
show_log() { sed 's/^/    | /' "$1" | tail -n "${2:-25}"; }

# mismatches LOG PREFIX: N from the bench's "PREFIX: N mismatches in M products" summary, else "".
mismatches() { sed -n "s/^$2: \([0-9][0-9]*\) mismatches in \([0-9][0-9]*\) products.*/\1 \2/p" "$1" | tail -n 1; }

# ---- 2. Icarus Verilog + $readmemh --------------------------------------------------------------------
run_iverilog() {  # BUG
  local bug=$1 vvp_file=$work/tb_readmemh_bug$1.vvp log=$work/tb_readmemh_bug$1.log t rc summary n m
  t=$(now)
  echo "run_examples: \$ iverilog -g2005 -P tb_readmemh.BUG=$bug -o $vvp_file tb_readmemh.v fp8_e4m3_mul.v"
  if ! iverilog -g2005 -Wall -P "tb_readmemh.BUG=$bug" -o "$vvp_file" \
      "$here/tb_readmemh.v" "$here/fp8_e4m3_mul.v" >"$work/tb_readmemh_bug$bug.build.log" 2>&1; then
    show_log "$work/tb_readmemh_bug$bug.build.log"
    report UNEXPECTED "tb_readmemh BUG=$bug: iverilog failed"
    return
  fi
  echo "run_examples: \$ vvp -n $vvp_file +vectors=$vectors +count=$count"
  vvp -n "$vvp_file" "+vectors=$vectors" "+count=$count" >"$log" 2>&1
  rc=$?
  show_log "$log" 14
  summary=$(mismatches "$log" tb_readmemh)
  n=${summary% *}
  m=${summary#* }
  # vvp's status does not carry the verdict: the PASS / FAIL marker line does.
  if [ "$bug" = 0 ]; then
    if [ $rc -eq 0 ] && grep -qx 'tb_readmemh: PASS' "$log" && [ "$summary" = "0 $count" ]; then
      report OK "tb_readmemh BUG=0 passed: 0 mismatches in $count products ($(elapsed "$t"))"
    else
      report UNEXPECTED "tb_readmemh BUG=0 did not pass (vvp status $rc, summary '${summary:-none}')"
    fi
  else
    if grep -qx 'tb_readmemh: FAIL' "$log" && ! grep -qx 'tb_readmemh: PASS' "$log" &&
        [ -n "$summary" ] && [ "$n" -gt 0 ] && [ "$m" = "$count" ]; then
      report OK "tb_readmemh BUG=1 caught: $n mismatches in $m products, FAIL marker ($(elapsed "$t"))"
    else
      report UNEXPECTED "tb_readmemh BUG=1 was not caught (vvp status $rc, summary '${summary:-none}')"
    fi
  fi
}

# ---- 3. Verilator + DPI-C into libbitsim_c --------------------------------------------------------------
run_verilator() {  # BUG
  local bug=$1 obj=$work/verilator_bug$1 log=$work/tb_dpi_bug$1.log t rc summary n m
  t=$(now)
  rm -rf "$obj"
  echo "run_examples: \$ verilator --cc --exe --build --timing -GBUG=$bug --top-module tb_dpi -Mdir $obj" \
       "-CFLAGS -I$incdir -LDFLAGS \"-L$libdir -lbitsim_c -Wl,-rpath,$libdir\" tb_dpi.sv fp8_e4m3_mul.v tb_dpi_main.cpp"
  if ! verilator --cc --exe --build --timing -Wall -j 1 "-GBUG=$bug" --top-module tb_dpi -Mdir "$obj" \
      -CFLAGS "-I$incdir" -LDFLAGS "-L$libdir -lbitsim_c -Wl,-rpath,$libdir" \
      "$here/tb_dpi.sv" "$here/fp8_e4m3_mul.v" "$here/tb_dpi_main.cpp" >"$work/tb_dpi_bug$bug.build.log" 2>&1; then
    show_log "$work/tb_dpi_bug$bug.build.log"
    report UNEXPECTED "tb_dpi BUG=$bug: Verilator build failed"
    return
  fi
  echo "run_examples: built in $(elapsed "$t"); \$ $obj/Vtb_dpi"
  "$obj/Vtb_dpi" >"$log" 2>&1
  rc=$?
  show_log "$log" 16
  summary=$(mismatches "$log" tb_dpi)
  n=${summary% *}
  m=${summary#* }
  if [ "$bug" = 0 ]; then
    if [ $rc -eq 0 ] && grep -qx 'tb_dpi: PASS' "$log" && [ "$summary" = "0 $count" ]; then
      report OK "tb_dpi BUG=0 passed: 0 mismatches in $count products, status 0 ($(elapsed "$t") with build)"
    else
      report UNEXPECTED "tb_dpi BUG=0 did not pass (status $rc, summary '${summary:-none}')"
    fi
  else
    if [ $rc -ne 0 ] && [ -n "$summary" ] && [ "$n" -gt 0 ] && [ "$m" = "$count" ]; then
      report OK "tb_dpi BUG=1 caught: $n mismatches in $m products, status $rc ($(elapsed "$t") with build)"
    else
      report UNEXPECTED "tb_dpi BUG=1 was not caught (status $rc, summary '${summary:-none}')"
    fi
  fi
}

for bug in 0 1; do
  run_iverilog "$bug"
  run_verilator "$bug"
done

if [ "$failures" -eq 0 ]; then
  echo "run_examples: all 4 outcomes as expected (BUG=0 passes, BUG=1 is caught) in $(elapsed "$t_start")"
  exit 0
fi
echo "run_examples: FAILED: $failures of 4 outcomes unexpected ($(elapsed "$t_start")); logs in $work"
exit 1
