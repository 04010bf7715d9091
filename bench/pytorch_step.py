#!/usr/bin/env python3
"""PyTorch CPU fp32 reference timing for one SGD training step.

Purpose
-------
Issue 4's performance goal for bitsim: in plain fp32 mode, one bitsim
training step must be no slower than 1.5x PyTorch on CPU for the same
model, the same batch size and the same number of threads.  This script
measures the PyTorch side of that comparison.

One "step" is exactly what a training loop does per batch:

    optimizer.zero_grad(set_to_none=True)
    logits = model(x)                      # forward, model in train() mode
    loss = F.cross_entropy(logits, y)      # mean over the batch
    loss.backward()                        # backward
    optimizer.step()                       # SGD, momentum 0.9, weight decay 5e-4

fp32 on CPU, NCHW inputs of shape Bx1x28x28 (Fashion-MNIST size), 10
classes, random inputs (standard normal) and random labels from a fixed
seed.  The same batch is reused for every step (data loading is not timed).
Each step is timed on its own with time.perf_counter(); the median and the
minimum over the timed steps are reported, plus images/s = batch / median.

Models
------
cnn              conv3x3 32 - BN - ReLU - conv3x3 32 - BN - ReLU - maxpool2
                 - conv3x3 64 - BN - ReLU - conv3x3 64 - BN - ReLU - maxpool2
                 - flatten (64*7*7) - FC 10.  All convs pad 1, no bias.
resnet20         CIFAR ResNet-20 (He et al. 2016): conv3x3 16 - BN - ReLU,
                 3 stages x 3 basic blocks, widths 16/32/64, stride 2 in the
                 first block of stages 2 and 3, projection shortcut
                 (1x1 conv + BN) where the shape changes, global average
                 pool, FC 10.  Convs without bias.
preact_resnet20  Pre-activation variant (He et al. 2016b): conv3x3 16, then
                 blocks BN-ReLU-conv-BN-ReLU-conv + shortcut (1x1 conv
                 projection, taken from the pre-activated input, where the
                 shape changes), final BN - ReLU, global average pool, FC 10.
mlp              flatten - FC 1024 - BN1d - ReLU - FC 1024 - BN1d - ReLU
                 - FC 10 (Graham 2017, section 2.1, permutation invariant).
                 The FC layers followed by BN have no bias (like the convs);
                 the last FC has a bias.  Default batch 100.
vit              experiments/modern/vit_fashion_mnist.toml: 7x7 patches (conv 7x7
                 stride 7, 128 channels, bias) + a learned position embedding,
                 4 pre-norm blocks x = x + proj(attn(qkv(LN(x)))) (4 heads of 32),
                 x = x + fc2(GELU(fc1(LN(x)))) (512 hidden), LN, mean over the 16
                 tokens, FC 10; all projections with bias.  Written as PyTorch
                 users write it (tokens [N, 16, 128], nn.Linear, F.softmax);
                 bitsim keeps tokens as [N, 128, 4, 4] with 1x1 convs: the same
                 function.  Default batch 128.

Command lines (from the repository root)
----------------------------------------
    python3 bench/pytorch_step.py --model all --threads 1
    python3 bench/pytorch_step.py --model all --threads 2
    python3 bench/pytorch_step.py --model resnet20 --batch 128 --threads 2 \\
        --warmup 5 --steps 30 --json pytorch_step.jsonl

PyTorch comes from Debian (apt-get install python3-torch python3-numpy
libopenblas0-pthread) and lives in /usr/bin/python3's dist-packages.  If the
python3 first on PATH (e.g. a pyenv one) cannot import torch, the script
re-executes itself with /usr/bin/python3 and says so on stderr.

Threads
-------
--threads T calls torch.set_num_threads(T) and torch.set_num_interop_threads(1),
and also sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS to T
before torch is imported (plus openblas_set_num_threads(T) if OpenBLAS is
loaded), because Debian's torch calls the system BLAS, whose own thread pool
would otherwise use every core regardless of torch.set_num_threads.

BLAS
----
Debian's torch is built with BLAS_INFO=generic and calls whatever
libblas.so.3 the alternatives system points to.  With only the reference
BLAS (netlib) installed, FC layers and any BLAS-based GEMM are many times
slower than they should be and the comparison with bitsim is unfair; the
script then prints a loud WARNING.  Fix: apt-get install libopenblas0-pthread.
Convolutions normally go through oneDNN (MKL-DNN), not BLAS; the script
reports whether oneDNN is available too.

--json FILE appends one JSON object per model (JSON Lines).
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

MODELS = ("cnn", "resnet20", "preact_resnet20", "mlp", "vit")
DEFAULT_BATCH = {"cnn": 128, "resnet20": 128, "preact_resnet20": 128, "mlp": 100, "vit": 128}
SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_ENV = "BITSIM_PYTORCH_STEP_REEXEC"


def parse_args():
    p = argparse.ArgumentParser(
        description="Time one PyTorch CPU fp32 SGD training step "
                    "(reference for bitsim's fp32 step time, issue 4).")
    p.add_argument("--model", choices=MODELS + ("all",), default="all")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default 128; 100 for mlp)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads(T), interop threads 1 "
                        "(default: torch's default)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps (default 5)")
    p.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="append one JSON object per model to FILE")
    a = p.parse_args()
    if a.threads is not None and a.threads < 1:
        p.error("--threads must be >= 1")
    if a.batch is not None and a.batch < 1:
        p.error("--batch must be >= 1")
    if a.steps < 1 or a.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    return a


def import_torch():
    """Import torch, re-executing under /usr/bin/python3 if needed."""
    try:
        import torch  # noqa: F401
        return torch
    except ImportError as e:
        here = os.path.realpath(sys.executable)
        if (os.environ.get(REEXEC_ENV) is None and os.path.exists(SYSTEM_PYTHON)
                and os.path.realpath(SYSTEM_PYTHON) != here):
            print("note: %s cannot import torch (%s); re-running with %s"
                  % (sys.executable, e, SYSTEM_PYTHON), file=sys.stderr)
            sys.stderr.flush()
            os.environ[REEXEC_ENV] = "1"
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
        sys.exit("error: cannot import torch (%s). Install it with "
                 "`apt-get install python3-torch python3-numpy libopenblas0-pthread` "
                 "and run with %s." % (e, SYSTEM_PYTHON))


# ----------------------------------------------------------------------------
# BLAS detection


def loaded_libraries():
    """Real paths of the shared objects mapped into this process (Linux)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and ".so" in parts[-1]:
                    libs.add(os.path.realpath(parts[-1]))
    except OSError:
        pass
    return sorted(libs)


def openblas_handle(libs):
    import ctypes
    for lib in libs:
        if "openblas" in os.path.basename(lib).lower():
            try:
                h = ctypes.CDLL(lib)
                h.openblas_get_num_threads  # noqa: B018 (probe the symbol)
                return h
            except (OSError, AttributeError):
                continue
    return None


def sgemm_provider(libs):
    """File that defines the sgemm_ torch calls, via dlsym on libblas.so.3 + dladdr.

    Debian's torch links libblas.so.3 (an alternatives symlink); liblapack.so.3 may
    pull in OpenBLAS even when libblas.so.3 is the reference BLAS, so merely seeing
    OpenBLAS mapped is not proof that sgemm comes from it.
    """
    import ctypes
    blas = [lib for lib in libs if os.path.basename(lib).startswith("libblas.so")]
    if not blas:
        return None
    try:
        handle = ctypes.CDLL(blas[0])
        addr = ctypes.cast(handle.sgemm_, ctypes.c_void_p).value

        class DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

        info = DlInfo()
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        if dladdr(addr, ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (OSError, AttributeError):
        pass
    return os.path.realpath(blas[0])


def classify_blas(path):
    p = path.lower()
    base = os.path.basename(p)
    if "openblas" in p:
        return "OpenBLAS"
    if "mkl" in base:
        return "MKL"
    if "blis" in p:
        return "BLIS"
    if "atlas" in p:
        return "ATLAS"
    if "/blas/libblas" in p or base.startswith("libblas.so"):
        return "reference BLAS"
    return None


def describe_blas(torch):
    """Return (summary string, is_reference_blas, openblas handle)."""
    config = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", config)
    blas_info = m.group(1) if m else "?"

    # Make sure a GEMM has run so a lazily loaded BLAS is mapped.
    a = torch.randn(64, 64)
    (a @ a).sum().item()

    libs = loaded_libraries()
    provider = sgemm_provider(libs)
    kind = classify_blas(provider) if provider else None
    is_reference = kind == "reference BLAS"
    if kind:
        summary = "%s (sgemm_ from %s)" % (kind, provider)
    elif "mkl" in blas_info.lower():
        summary = "MKL (linked into torch)"
    elif blas_info.lower() == "open":
        summary = "OpenBLAS (linked into torch)"
    else:
        others = [lib for lib in libs if classify_blas(lib) not in (None, "reference BLAS")]
        summary = "unknown (no libblas.so mapped%s)" % (
            "; mapped: " + ", ".join(others) if others else "")
    summary += "; torch build BLAS_INFO=%s" % blas_info
    return summary, is_reference, openblas_handle(libs)


def warn_reference_blas(summary):
    bar = "!" * 78
    msg = "\n".join([
        bar,
        "WARNING: torch is using the REFERENCE (netlib) BLAS: %s" % summary,
        "WARNING: FC layers / BLAS GEMMs will be several times slower than a real",
        "WARNING: PyTorch install; comparing bitsim against these numbers is UNFAIR.",
        "WARNING: Fix:  apt-get install libopenblas0-pthread   (then re-run); if it is",
        "WARNING: installed, check LD_LIBRARY_PATH and",
        "WARNING: update-alternatives --display libblas.so.3-x86_64-linux-gnu",
        bar,
    ])
    print(msg, file=sys.stderr)
    print(msg)


# ----------------------------------------------------------------------------
# Models


def build_model(torch, name):
    nn = torch.nn

    def conv3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    if name == "cnn":
        return nn.Sequential(
            conv3(1, 32), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            conv3(32, 32), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            conv3(32, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            conv3(64, 64), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 10),
        )

    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
            nn.Linear(1024, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
            nn.Linear(1024, 10),
        )

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = conv3(cin, cout, stride)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = conv3(cout, cout)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(cout))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    class PreActBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(cin)
            self.conv1 = conv3(cin, cout, stride)
            self.bn2 = nn.BatchNorm2d(cout)
            self.conv2 = conv3(cout, cout)
            self.relu = nn.ReLU()
            self.projection = stride != 1 or cin != cout
            if self.projection:
                self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

        def forward(self, x):
            pre = self.relu(self.bn1(x))
            sc = self.shortcut(pre) if self.projection else x
            out = self.conv1(pre)
            out = self.conv2(self.relu(self.bn2(out)))
            return out + sc

    class ResNet20(nn.Module):
        def __init__(self, preact):
            super().__init__()
            block = PreActBlock if preact else BasicBlock
            self.preact = preact
            if preact:
                self.stem = conv3(1, 16)
            else:
                self.stem = nn.Sequential(conv3(1, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
            layers, cin = [], 16
            for width, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    layers.append(block(cin, width, stride if i == 0 else 1))
                    cin = width
            self.blocks = nn.Sequential(*layers)
            self.final = (nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(inplace=True))
                          if preact else nn.Identity())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.final(self.blocks(self.stem(x)))
            return self.fc(torch.flatten(self.pool(x), 1))

    class Vit(nn.Module):
        def __init__(self, width=128, heads=4, depth=4, hidden=512, tokens=16):
            super().__init__()
            self.heads = heads
            self.patch = nn.Conv2d(1, width, 7, stride=7, bias=True)
            self.pos = nn.Parameter(torch.zeros(1, tokens, width))
            self.blocks = nn.ModuleList()
            for _ in range(depth):
                self.blocks.append(nn.ModuleDict({
                    "ln1": nn.LayerNorm(width), "qkv": nn.Linear(width, 3 * width), "proj": nn.Linear(width, width),
                    "ln2": nn.LayerNorm(width), "fc1": nn.Linear(width, hidden), "fc2": nn.Linear(hidden, width)}))
            self.ln = nn.LayerNorm(width)
            self.fc = nn.Linear(width, 10)

        def attention(self, b, x):
            n, t, c = x.shape
            q, k, v = b["qkv"](b["ln1"](x)).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            p = torch.softmax(q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5, dim=-1)
            return b["proj"]((p @ v).transpose(1, 2).reshape(n, t, c))

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
            for b in self.blocks:
                x = x + self.attention(b, x)
                x = x + b["fc2"](torch.nn.functional.gelu(b["fc1"](b["ln2"](x))))
            return self.fc(self.ln(x).mean(dim=1))

    if name == "vit":
        return Vit()
    if name == "resnet20":
        return ResNet20(preact=False)
    if name == "preact_resnet20":
        return ResNet20(preact=True)
    raise ValueError(name)


# ----------------------------------------------------------------------------
# Timing


def time_model(torch, name, batch, warmup, steps, seed):
    F = torch.nn.functional
    torch.manual_seed(seed)
    model = build_model(torch, name).float().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, 1, 28, 28, generator=gen, dtype=torch.float32)
    y = torch.randint(0, 10, (batch,), generator=gen, dtype=torch.int64)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    loss_value = float(loss.item())  # after timing: the step is synchronous on CPU
    nparams = sum(p.numel() for p in model.parameters())
    med = statistics.median(times)
    return {
        "model": name,
        "batch": batch,
        "params": nparams,
        "median_ms": med * 1e3,
        "min_ms": min(times) * 1e3,
        "images_per_s": batch / med,
        "last_loss": loss_value,
        "step_ms": [t * 1e3 for t in times],
    }


def main():
    args = parse_args()
    if args.threads is not None:
        # Must happen before torch (and the BLAS / OpenMP runtimes) are loaded.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    torch = import_torch()
    if args.threads is not None:
        torch.set_num_interop_threads(1)
        torch.set_num_threads(args.threads)

    blas_summary, is_reference, openblas = describe_blas(torch)
    if openblas is not None and args.threads is not None:
        try:
            openblas.openblas_set_num_threads(args.threads)
        except AttributeError:
            pass
    blas_threads = None
    if openblas is not None:
        try:
            blas_threads = int(openblas.openblas_get_num_threads())
        except AttributeError:
            pass

    threads = torch.get_num_threads()
    mkldnn = torch.backends.mkldnn.is_available()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None

    print("torch %s (python %s, %s), threads %d (interop %d)%s"
          % (torch.__version__, platform.python_version(), sys.executable, threads,
             torch.get_num_interop_threads(),
             "" if blas_threads is None else ", OpenBLAS threads %d" % blas_threads))
    print("BLAS: %s; oneDNN (MKL-DNN) for convs: %s" % (blas_summary, "yes" if mkldnn else "no"))
    if load is not None:
        print("load average at start: %.2f %.2f %.2f (cores: %d)"
              % (load[0], load[1], load[2], os.cpu_count() or 0))
    if is_reference:
        warn_reference_blas(blas_summary)
    print("step = zero_grad + forward + cross-entropy + backward + SGD(momentum 0.9, "
          "wd 5e-4); fp32, input Bx1x28x28; warmup %d, timed %d"
          % (args.warmup, args.steps))
    print()

    names = MODELS if args.model == "all" else (args.model,)
    header = "%-16s %6s %8s %11s %9s %10s" % ("model", "batch", "threads", "median ms",
                                              "min ms", "images/s")
    print(header)
    print("-" * len(header))
    results = []
    for name in names:
        batch = args.batch if args.batch is not None else DEFAULT_BATCH[name]
        r = time_model(torch, name, batch, args.warmup, args.steps, args.seed)
        r.update({
            "threads": threads,
            "blas_threads": blas_threads,
            "warmup": args.warmup,
            "steps": args.steps,
            "seed": args.seed,
            "torch": torch.__version__,
            "blas": blas_summary,
            "reference_blas": is_reference,
            "mkldnn": mkldnn,
            "loadavg_start": list(load) if load is not None else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(),
        })
        results.append(r)
        print("%-16s %6d %8d %11.2f %9.2f %10.1f"
              % (name, batch, threads, r["median_ms"], r["min_ms"], r["images_per_s"]))
        sys.stdout.flush()

    if load is not None:
        end = os.getloadavg()
        print("\nload average at end: %.2f %.2f %.2f" % end)
        for r in results:
            r["loadavg_end"] = list(end)
    if is_reference:
        warn_reference_blas(blas_summary)
    if args.json:
        with open(args.json, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
        print("appended %d result(s) to %s" % (len(results), args.json))


if __name__ == "__main__":
    main()
