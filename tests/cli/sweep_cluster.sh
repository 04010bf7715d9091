#!/usr/bin/env bash
# bitsim sweep on a cluster, without one: --emit-slurm writes a job array whose tasks (run here one
# after the other, as Slurm would run them on nodes) each train one run with --task, and --collect
# merges their results into the table; under mpirun (simulated by the launcher's environment, then
# with OpenMPI's mpirun when installed) each rank trains its share of the runs and rank 0 writes the
# table once all are done.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

cat >"$TMP/sweep.toml" <<EOF2
title = "cluster test"
seeds = [1, 2]
out = "$TMP/table"
runs_root = "$TMP/runs"
base = "experiments/fp32/mlp_fashion_mnist.toml"
set = ["model.width=16", "data.limit_train=512", "data.limit_test=200", "data.batch=64", "train.epochs=1"]
workers = 2
[grid]
"formats.W" = ["fp32", "fp8_e4m3"]
EOF2

# ---- Slurm job array ---------------------------------------------------------------------------
run "" sweep "$TMP/sweep.toml" --emit-slurm "$TMP/array.sh"
check "emit-slurm: exit 0 ($ERR)" test "$RC" -eq 0
check "emit-slurm: 4 array tasks, 2 at a time" grep -q '^#SBATCH --array=0-3%2$' "$TMP/array.sh"
check "emit-slurm: each task runs one run" grep -q -- '--task "$SLURM_ARRAY_TASK_ID"$' "$TMP/array.sh"
check "emit-slurm: says how to collect" grep -q -- '--collect' "$TMP/array.sh"
check "emit-slurm: bash syntax" bash -n "$TMP/array.sh"
for i in 0 1 2 3; do
  RC=0
  SLURM_ARRAY_TASK_ID=$i bash "$TMP/array.sh" >"$TMP/task$i.log" 2>&1 || RC=$?
  check "array task $i exits 0 ($(tail -1 "$TMP/task$i.log"))" test "$RC" -eq 0
done
check "array tasks: 4 results" test "$(find "$TMP/runs" -name result.json | wc -l)" -eq 4
check "array tasks write no table" test ! -e "$TMP/table/table.md"
run "" sweep "$TMP/sweep.toml" --collect
check "collect: exit 0" test "$RC" -eq 0
check "collect: 2 rows of 2 runs" test "$(grep -Ec '^\| W=(fp32|fp8_e4m3) \| 2 \| ' "$TMP/table/table.md")" -eq 2
run "" sweep "$TMP/sweep.toml" --task 4
check "--task beyond the list: exit 2, says how many" bash -c "[ $RC -eq 2 ] && grep -q 'the sweep has 4 runs (0..3)' '$TMP/err'"

# ---- MPI ranks (the launcher's environment) ----------------------------------------------------
rm -rf "$TMP/runs" "$TMP/table"
OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2 "$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/rank1.log" 2>&1 &
P1=$!
RC=0
OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 "$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/rank0.log" 2>&1 || RC=$?
RC1=0
wait "$P1" || RC1=$?
check "ranks 0 and 1 exit 0" test "$RC" -eq 0 -a "$RC1" -eq 0
check "rank 1 trained runs 1 and 3 only" test "$(grep -c ': done, test accuracy' "$TMP/rank1.log")" -eq 2
check "rank 1 says which rank it is" grep -q '2 runs (2 rows x 2 seeds) on rank 1 of 2' "$TMP/rank1.log"
check "rank 1 writes no table" bash -c "! grep -q '^table:' '$TMP/rank1.log'"
check "rank 0 trained its 2 and wrote the table of 4" test "$(grep -c ': done, test accuracy' "$TMP/rank0.log")" -eq 2 -a \
  "$(grep -Ec '^\| W=(fp32|fp8_e4m3) \| 2 \| ' "$TMP/table/table.md")" -eq 2

# ---- mpirun (OpenMPI) --------------------------------------------------------------------------
if command -v mpirun >/dev/null; then
  rm -rf "$TMP/runs" "$TMP/table"
  RC=0
  mpirun --allow-run-as-root --oversubscribe -np 2 "$BITSIM" sweep "$TMP/sweep.toml" >"$TMP/mpirun.log" 2>&1 || RC=$?
  check "mpirun -np 2: exit 0 ($(tail -2 "$TMP/mpirun.log"))" test "$RC" -eq 0
  check "mpirun -np 2: each run trained once" test "$(grep -c ': done, test accuracy' "$TMP/mpirun.log")" -eq 4
  check "mpirun -np 2: the table of 4 runs" test "$(grep -Ec '^\| W=(fp32|fp8_e4m3) \| 2 \| ' "$TMP/table/table.md")" -eq 2
else
  fail "mpirun not found (scripts/install-deps.sh installs openmpi-bin)"
fi
finish
