#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/), deterministically.

usage: tests/fuzz/make_corpus.py [BITSIM]
Seeds are small valid inputs of every shape the reader knows plus a few near misses, so the fuzzer
starts from deep inside the parsers. With BITSIM (the built program), the stats_reader seeds are made
from a 2-step training run (a real statistics file, and a truncated copy). Re-running rewrites the
same files; inputs the fuzzer found and kept go to regressions/<target>/ by hand, never here.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)  # mtime 0: the same bytes on every run


def format_specs():
    specs = ["fp32", "fp16", "bf16", "tf32", "fp8_e5m2", "fp8_e4m3", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e3m2",
             "fp6_e2m3", "fp4_e2m1", "int8", "int16", "int32", "uint8", "graham_L2", "graham_L3", "graham_L4",
             "graham_L5", "graham_U4", "graham_U5", "graham_U8", "graham_O4",
             "float(e=4,m=3,special=fn)", "float(e=5,m=2,bias=15,subnormals=no)", "float(e=3,m=4,overflow=saturate)",
             "float(e=8,m=23,special=none,overflow=nan)", "fixed(i=3,f=4)", "fixed(i=8,f=0,signed=no)",
             "fixed(i=0,f=15,overflow=wrap)", "log(k=2,lo=-6,hi=9,scale=1.177)", "midrise(s=3,lo=-16,hi=15)",
             "log(k=1,lo=-1,hi=0,scale=1.034,offset=0.5)", " float( e = 4 , m = 3 ) ",
             # near misses: each is refused with a FormatError
             "float(e=4)", "float(e=0,m=3)", "fixed(i=-1,f=3)", "float(e=4,m=3,special=bogus)", "fp9", "float(e=4,m=3"]
    for i, s in enumerate(specs):
        put("format_spec", f"spec_{i:02d}", s)


def quantize_numbers():
    numbers = ["1", "1.5", "-0", "0x1.8p-3", "0x1p-149", "inf", "-Infinity", "nan", "1e400", "  2.5  ", "65504",
               "65520", "448", "464", "0.0625", "3.0517578125e-05", "-7.9375", "8", "0x1.fffffep+127", "1e-320"]
    # byte 0: format index (< 0x80) or 0x80 + spec line; byte 1: rounding mode (and R for sr); 2..5: word
    for i, n in enumerate(numbers):
        header = bytes([i % 28, i % 6]) + struct.pack("<I", 0x9E3779B9 * (i + 1) & 0xFFFFFFFF)
        put("quantize_number", f"num_{i:02d}", header + n.encode())
    put("quantize_number", "spec_line", bytes([0x80, 5]) + struct.pack("<I", 0x80000000) + b"float(e=3,m=2,overflow=saturate)\n2.75")


def vectors():
    # byte 0: the target's setup index; line 1: options text; then vector lines.
    cases = [
        (0, "", ["3C 45 4A 01", "3C 45 49 01", "7F 38 7F 00", "00 80 80 00"]),
        (1, "rounding=rtz tininess=before", ["3C 3C 40 00", "7B 7B 7B 05", "7E 01 7E 00"]),
        (2, "nan=x86,daz,ftz", ["01 02 03 00 01", "1F 1F 3F 3F 05"]),
        (3, "rounding=rna", ["10 00 7F 08", "00 00 00 10"]),
        (4, "rounding=sr sr_bits=7", ["3C00 3C00 00", "0001 0C00 01"]),
        (5, "nan=arm", ["7FC1 3F80 7FC1 00", "FF81 0000 FFC1 10"]),
        (6, "nan=riscv", ["80 00 0 00", "01 02 1 00"]),
        (7, "nan=x86", ["5CB0 80 10", "7E00 80 10"]),
        (8, "rounding=rup ftz=1", ["3C 02 01", "7C 06 10"]),
        (9, "tininess=bogus daz=2", ["10 11 00 02", "0x10 0X11 00 00", "1 2", "GG 00 00 00"]),
    ]
    for i, (setup, options, lines) in enumerate(cases):
        put("vectors", f"case_{i:02d}", bytes([setup]) + ("\n".join([options] + lines) + "\n").encode())


def configs():
    put("config", "minimal.toml", 'name = "x"\n[model]\nname = "mlp"\n')
    put("config", "roles.toml", '''name = "q8"
seed = 7
[model]
name = "custom"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out = 10
[data]
dataset = "fashion-mnist"
batch = 64
[train]
epochs = 1
checkpoint_every_steps = 10
[optimizer]
lr = 0.05
momentum = 0.9
[formats]
W = "fp8_e4m3"
A = "fixed(i=3,f=4)"
bifurcate = true
DY_W = { quantizer = "range", bits = 16, rounding = "sr" }
E = { format = "fp8_e5m2", rounding = "sr", sr_bits = 8 }
[[formats.override]]
kinds = ["linear"]
DY = { quantizer = "range", bits = 8, rounding = "sr" }
[stats]
every = 10
roles = ["E", "G"]
''')
    for name in sorted(os.listdir(os.path.join(HERE, "..", "..", "experiments", "fp32"))):
        if name.endswith(".toml"):
            with open(os.path.join(HERE, "..", "..", "experiments", "fp32", name), "rb") as f:
                put("config", "fp32_" + name, f.read())
    put("config", "bad_key.toml", 'name = "x"\n[train]\nepochz = 1\n')
    put("config", "bad_toml.toml", 'name = "x\n[train\n')


def idx_pair(n, rows, cols, labels_classes=10, images_magic=0x803, labels_magic=0x801):
    images = struct.pack(">IIII", images_magic, n, rows, cols) + bytes((7 * k) % 256 for k in range(n * rows * cols))
    labels = struct.pack(">II", labels_magic, n) + bytes(k % labels_classes for k in range(n))
    return images, labels


def idx_input(classes, images, labels):
    return bytes([classes]) + struct.pack("<H", len(images)) + images + labels


def idx_files():
    img, lab = idx_pair(3, 2, 2)
    put("idx", "raw_3x2x2", idx_input(10, img, lab))
    put("idx", "raw_inferred", idx_input(0, img, lab))
    gimg, glab = gz(img), gz(lab)
    put("idx", "gzip_3x2x2", idx_input(10, gimg, glab))
    img, lab = idx_pair(2, 28, 28)
    put("idx", "raw_2x28x28", idx_input(10, img, lab))
    img, lab = idx_pair(3, 2, 2)
    put("idx", "swapped", idx_input(10, lab, img))
    put("idx", "truncated", idx_input(10, img[:-2], lab))


def cifar_files():
    rec = bytes([3]) + bytes((k * 13) % 256 for k in range(3072))
    put("cifar", "one_record", rec)
    put("cifar", "two_records_gzip", gz(rec + bytes([9]) + rec[1:]))
    put("cifar", "short", rec[:100])


def stats_files(bitsim):
    work = tempfile.mkdtemp(prefix="bitsim-corpus-")
    try:
        cfg = os.path.join(work, "tiny.toml")
        with open(cfg, "w") as f:
            f.write('name = "tiny"\nseed = 1\nthreads = 1\n[model]\nname = "custom"\n'
                    '[[model.layers]]\ntype = "flatten"\n[[model.layers]]\ntype = "linear"\nout = 10\n'
                    '[data]\nbatch = 8\nlimit_train = 16\nlimit_test = 8\n[train]\nepochs = 1\n'
                    '[formats]\nE = "fp8_e5m2"\n[stats]\nevery = 1\nroles = ["E", "G"]\n')
        subprocess.run([bitsim, "train", cfg, "--set", "run.dir=" + os.path.join(work, "run")], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "run", "stats.h5"), "rb") as f:
            data = f.read()
        put("stats_reader", "tiny_run.h5", data)
        put("stats_reader", "tiny_run_truncated.h5", data[: len(data) // 2])
    finally:
        shutil.rmtree(work)


def main():
    format_specs()
    quantize_numbers()
    vectors()
    configs()
    idx_files()
    cifar_files()
    if len(sys.argv) > 1:
        stats_files(sys.argv[1])


if __name__ == "__main__":
    main()
