#!/usr/bin/env python3
"""A small PyTorch model trained on Fashion-MNIST with weights (W), activations (A) and errors (E) in
FP8 through bitsim (docs/python.md):

  * both linear layers are bitsim.torch.QLinear: their forward GEMM rounds A and W to fp8_e4m3 and
    accumulates in fp32; the backward GEMMs round E to fp8_e5m2 (and W or A to fp8_e4m3), fp32 accumulation;
  * a bitsim.torch.Quantizer after the hidden ReLU rounds A to fp8_e4m3 forward and E to fp8_e5m2 backward;
  * the master weights and the SGD update stay float32 (PyTorch).

Run from the repository root after building (PYTHONPATH=build/python):
    python3 examples/python/train_fashion_mnist_fp8.py --epochs 1
Prints the loss every 100 steps and the test accuracy; --steps N stops after N steps (the test does).
"""

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import torch

import bitsim.torch as bt

DATA = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


def load_idx(name):
    path = DATA / name
    try:
        raw = gzip.open(path).read()
    except OSError as e:
        sys.exit(f"train_fashion_mnist_fp8.py: cannot read {path} ({e}); install it with apt-get install dataset-fashion-mnist")
    if raw[2] == 0x08 and raw[3] == 3:  # images: n, 28, 28
        n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows * cols)
    return np.frombuffer(raw, np.uint8, offset=8)


def model():
    fp8_forward = bt.GemmSpec(a_format="fp8_e4m3", b_format="fp8_e4m3", acc="fp32")          # A x W^T
    fp8_grad_input = bt.GemmSpec(a_format="fp8_e5m2", b_format="fp8_e4m3", acc="fp32")       # E x W
    fp8_grad_weight = bt.GemmSpec(a_format="fp8_e5m2", b_format="fp8_e4m3", acc="fp32")      # E^T x A
    specs = dict(forward_spec=fp8_forward, grad_input_spec=fp8_grad_input, grad_weight_spec=fp8_grad_weight)
    return torch.nn.Sequential(
        bt.QLinear(784, 256, **specs),
        torch.nn.ReLU(),
        bt.Quantizer(forward_format="fp8_e4m3", backward_format="fp8_e5m2"),
        bt.QLinear(256, 10, **specs),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: run every epoch)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--limit-test", type=int, default=10000, help="test images evaluated")
    args = p.parse_args()
    for name in ("epochs", "batch", "limit_test"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    mean, std = 0.2860, 0.3530  # Fashion-MNIST training pixels
    x_train = torch.from_numpy(((load_idx("train-images-idx3-ubyte.gz") / 255.0 - mean) / std).astype(np.float32))
    y_train = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test = torch.from_numpy(((load_idx("t10k-images-idx3-ubyte.gz")[: args.limit_test] / 255.0 - mean) / std).astype(np.float32))
    y_test = torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz")[: args.limit_test].astype(np.int64))

    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    step, start = 0, time.time()
    for epoch in range(args.epochs):
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            loss = torch.nn.functional.cross_entropy(net(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 100 == 0 or step == args.steps or step == 1:
                print(f"epoch {epoch + 1} step {step}: loss {loss.item():.4f} ({time.time() - start:.1f} s)", flush=True)
            if step == args.steps:
                break
        if step == args.steps:
            break
    with torch.no_grad():
        correct = sum(int((net(x_test[i:i + 500]).argmax(1) == y_test[i:i + 500]).sum()) for i in range(0, len(x_test), 500))
    print(f"test accuracy {100.0 * correct / len(x_test):.2f}% on {len(x_test)} images after {step} steps "
          f"({time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
