#!/usr/bin/env python3
"""Step time of bitsim's fp32 engine against PyTorch, same model, batch and thread count.

Runs build/bench/bench_train_step (bitsim) and bench/pytorch_step.py (PyTorch 1.13 from Debian with
OpenBLAS) alternately, ROUNDS times each, for every model and thread count, and prints the median
step time of each side and their ratio (bitsim / PyTorch; issue 4's goal: at most 1.5). Alternating
the two sides spreads the machine's noise over both. Both sides run 5 untimed warm steps first
(bench_train_step's kWarmSteps, pytorch_step.py --warmup 5), and both keep freed memory for reuse
(bitsim's retain_freed_memory(); PyTorch through the same glibc settings in GLIBC_TUNABLES). Usage, from the repository root after building:

    python3 bench/compare_pytorch.py [--rounds 3] [--threads 1 2] [--models cnn resnet20 preact_resnet20 mlp vit]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

MODELS = ["cnn", "resnet20", "preact_resnet20", "mlp", "vit"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bitsim_ms(model, threads, binary):
    out = subprocess.run([binary, "--benchmark_filter=BM_TrainStep/%d/%d/0/" % (MODELS.index(model), threads),
                          "--benchmark_min_time=3", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    return runs[0]["real_time"]  # ms (the benchmark's unit)


def pytorch_ms(model, threads):
    tmp = "/tmp/bitsim_compare_pytorch.jsonl"
    if os.path.exists(tmp):
        os.remove(tmp)
    # The same malloc settings as bitsim's programs (sim/runtime/retain_memory.cpp): freed blocks up to
    # 32 MiB stay in the process, so neither side pays for faulting its buffers in again every step.
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647"
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "pytorch_step.py"), "--model", model,
                    "--threads", str(threads), "--warmup", "5", "--steps", "30", "--json", tmp],
                   check=True, capture_output=True, text=True, env=env)
    with open(tmp) as f:
        return json.loads(f.readline())["median_ms"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "bench", "bench_train_step"))
    args = p.parse_args()
    if not os.path.exists(args.binary):
        sys.exit("compare_pytorch: %s not found; build first (./scripts/build.sh)" % args.binary)
    print("load average before: %s" % open("/proc/loadavg").read().split()[:3])
    rows = []
    for threads in args.threads:
        for model in args.models:
            b, t = [], []
            for _ in range(args.rounds):
                b.append(bitsim_ms(model, threads, args.binary))
                t.append(pytorch_ms(model, threads))
            rows.append((model, threads, statistics.median(b), statistics.median(t), b, t))
            print("%-16s threads %d  bitsim %7.1f ms  pytorch %7.1f ms  ratio %.2f" %
                  (model, threads, rows[-1][2], rows[-1][3], rows[-1][2] / rows[-1][3]), flush=True)
    print("load average after: %s" % open("/proc/loadavg").read().split()[:3])
    print("\n| model | threads | batch | bitsim ms (median of %d) | PyTorch ms (median of %d) | ratio |" % (args.rounds, args.rounds))
    print("|---|---|---|---|---|---|")
    for model, threads, bm, tm, _, _ in rows:
        print("| %s | %d | %d | %.1f | %.1f | %.2f |" % (model, threads, 100 if model == "mlp" else 128, bm, tm, bm / tm))


if __name__ == "__main__":
    main()
