#!/usr/bin/env python3
"""Quantizing 16M float32 values from Python against the same C++ kernel, side by side in one run.

Each round times, in turn: bitsim.quantize(x, fmt, out=buf, threads=1) called from Python; the same
Quantizer call timed inside C++ (bitsim._bitsim._kernel_seconds: no Python, no argument checks, one
thread) -- the C++ kernel's time the Python call is held to (at most 1.2x); and, where one exists
here, an alternative a QPyTorch-style user would write: bf16 rounding as a numpy bit trick
(add 0x7FFF plus the lowest kept bit, clear the low 16 bits: round to nearest even, finite inputs)
and PyTorch's x.to(torch.bfloat16).to(torch.float32). Rounds are interleaved, the side going first
rotates from round to round, every timed call follows one warm call of the same side; the two bitsim
sides are measured together, the alternatives afterwards (see measure()); medians are printed.
Inputs: N(0,1) samples times 4, as bench/bench_quantize.cpp uses. Every result is checked against
bitsim's before it is timed.

Run from the repository root after building (PYTHONPATH=build/python):
    python3 bench/bench_python.py [--rounds 11] [--count 16777216]
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np

import bitsim
from bitsim import _bitsim


def bf16_numpy(x, out):
    b = x.view(np.uint32)
    r = b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))
    np.bitwise_and(r, np.uint32(0xFFFF0000), out=out.view(np.uint32))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--count", type=int, default=1 << 24)
    args = p.parse_args()
    if args.rounds < 1 or args.count < 1:
        p.error("--rounds and --count must be >= 1")
    x = (np.random.default_rng(1).standard_normal(args.count, dtype=np.float32) * 4).astype(np.float32)
    out = np.empty_like(x)
    try:
        import torch
        torch.set_num_threads(1)
        xt = torch.from_numpy(x)
    except ImportError:
        torch = None

    cases = []  # (label, {side: callable}) with the Python call first
    for fmt, mode in [("bf16", "rne"), ("fp16", "rne"), ("fp8_e4m3", "rne"), ("fp8_e5m2", "sr"), ("int8", "rne")]:
        kw = {"seed": 42} if mode == "sr" else {}
        sides = {
            "bitsim.quantize (Python)": lambda fmt=fmt, mode=mode, kw=kw: bitsim.quantize(x, fmt, mode, out=out, threads=1, **kw),
            "C++ kernel": lambda fmt=fmt, mode=mode: _bitsim._kernel_seconds(x, out, fmt, mode, 42, 1)[0],
        }
        want = bitsim.quantize(x, fmt, mode, **kw)
        if fmt == "bf16":
            assert np.array_equal(bf16_numpy(x, out), want), "the numpy bit trick differs from bitsim"
            sides["numpy bit trick"] = lambda: bf16_numpy(x, out)
            if torch is not None:
                assert np.array_equal(xt.to(torch.bfloat16).to(torch.float32).numpy(), want), "torch differs from bitsim"
                sides["torch .to(bfloat16)"] = lambda: xt.to(torch.bfloat16).to(torch.float32)
        cases.append((f"{fmt} {mode}", sides))

    times = {(label, side): [] for label, sides in cases for side in sides}

    def measure(which):
        for round_ in range(args.rounds):
            for label, sides in cases:
                order = [(side, call) for side, call in sides.items() if which(side)]
                k = round_ % max(1, len(order))
                for side, call in order[k:] + order[:k]:  # the side going first rotates from round to round
                    call()  # one warm call before each timed one, on every side alike
                    start = time.perf_counter()
                    inner = call()
                    elapsed = time.perf_counter() - start
                    # The C++ side reports its own time, without the Python call around it.
                    times[(label, side)].append(inner if side == "C++ kernel" else elapsed)

    # bitsim from Python against the C++ kernel first, then the alternatives on their own: right after
    # an alternative had allocated and freed its 100 MB of temporaries, the next 16M-value call (from
    # Python or timed in C++ alike) ran up to twice as slow on the development machine, which would
    # charge one side for the other's memory traffic.
    measure(lambda side: side in ("bitsim.quantize (Python)", "C++ kernel"))
    measure(lambda side: side not in ("bitsim.quantize (Python)", "C++ kernel"))

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    flags = open("/proc/cpuinfo").read()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else platform.machine()
    print(f"# {args.count} float32 values, {args.rounds} interleaved rounds, medians; one thread; {cpu} ({isa}); "
          f"bitsim {bitsim.__version__}, numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else ""))
    print(f"# load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'format':<16}{'side':<28}{'ms':>9}{'ns/value':>10}{'vs C++':>8}")
    for label, sides in cases:
        base = statistics.median(times[(label, "C++ kernel")])
        for side in sides:
            m = statistics.median(times[(label, side)])
            print(f"{label:<16}{side:<28}{1e3 * m:9.2f}{1e9 * m / args.count:10.3f}{m / base:8.3f}")


if __name__ == "__main__":
    main()
