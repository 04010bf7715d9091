#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (the fuzz_* CTest tests; tests/fuzz/README.md).
# usage: run_fuzzer.sh FUZZER SECONDS WORKDIR SEED_CORPUS [REGRESSIONS]
# First every stored regression input runs once; then the fuzzer starts from the seed corpus (read
# only: new inputs go to WORKDIR/corpus, never into the source tree) and stops after SECONDS. A crash,
# leak, sanitizer report, timeout or failed property leaves its input in WORKDIR/ and fails the test;
# copy it to tests/fuzz/regressions/<target>/ once fixed.
set -euo pipefail
fuzzer=$1 seconds=$2 work=$3 seeds=$4 regressions=${5:-}
rm -rf "$work" && mkdir -p "$work/corpus"
if [ -n "$regressions" ] && [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
  "$fuzzer" "$regressions"/* 2> "$work/regressions.log" || { cat "$work/regressions.log"; echo "FAIL: a stored regression input fails again"; exit 1; }
  echo "regressions: $(ls "$regressions" | wc -l) inputs pass"
fi
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds" > "$work/fuzz.log" 2>&1 || status=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" | grep -o '[0-9]*$' || true)
echo "seed corpus: $(ls "$seeds" | wc -l) inputs; executed ${runs:-?} inputs in ${seconds} s; new corpus entries: $(ls "$work/corpus" | wc -l)"
if [ "$status" -ne 0 ]; then
  tail -n 60 "$work/fuzz.log"
  echo "FAIL: the fuzzer found a failing input (exit $status): $(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || true)"
  exit 1
fi
