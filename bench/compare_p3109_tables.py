#!/usr/bin/env python3
"""Every code of the IEEE P3109 formats against the value tables the working group publishes
(github.com/P3109/Public, "Value Tables/Hexadecimal/K<K>/P<P>/{signed,unsigned}/Binary<K>p<P><s|u><e|f>.csv":
columns codepoint, value (a C99 hex float, Inf, -Inf or NaN) and subnormal ('*')).

For each table, bitsim's format of that name (binary8p4se, binary8p3ue, ...) must decode every code to
the double nearest the table's value (the value itself where a double holds it; the formats with 11 or more
exponent bits reach beyond the doubles, and tests/test_p3109.cpp compares those exactly), say NaN and
+-Inf where the table does, and mark the same codes subnormal (exponent field 0, non-zero); every value
a double holds must encode back to its code. Signed and unsigned tables alike; a table of a format
bitsim's floats cannot hold (binary16p1u*: 16 exponent bits, one more than they take) is counted as
skipped, with the reason.

    PYTHONPATH=build/python bench/compare_p3109_tables.py [--tables DIR] [--max-k K]

DIR is the "Value Tables/Hexadecimal" folder of a P3109/Public checkout; without it the repository is
cloned into a temporary folder (nothing is kept). Exit status 0 all equal, 1 a difference, 2 bad usage.
"""
import argparse
import math
import pathlib
import re
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np

import bitsim

NAME = re.compile(r"Binary(\d+)p(\d+)([su])([ef])\.csv")


def read_table(path):
    rows = []
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[:2] != ["codepoint", "value"]:
            raise ValueError(f"{path}: unexpected header {header}")
        for line in f:
            cells = line.rstrip("\n").split(",")
            if len(cells) < 2:
                continue
            rows.append((int(cells[0], 16), cells[1].strip(), len(cells) > 2 and cells[2].strip() == "*"))
    return rows


def exact_hex(text):
    """The exact value of a C99 hex float (Fraction), whatever its exponent."""
    mt = re.fullmatch(r"(-?)0x([0-9a-fA-F]*)\.?([0-9a-fA-F]*)p([+-]?\d+)", text)
    if not mt:
        raise ValueError(f"not a hex float: {text}")
    sign, whole, frac, exp = mt.groups()
    v = Fraction(int(whole + frac or "0", 16), 16 ** len(frac)) * Fraction(2) ** int(exp)
    return -v if sign else v


def nearest_double(text):
    """The double nearest to the hex float `text` (float.fromhex rounds correctly; beyond the largest
    double it is an infinity)."""
    try:
        return float.fromhex(text)
    except OverflowError:
        return -math.inf if text.startswith("-") else math.inf


def check_table(path, k, p, name, signed):
    """Returns a list of differences (empty when the table and bitsim agree)."""
    fmt = bitsim.Format(name)
    rows = read_table(path)
    diffs = []
    if len(rows) != 1 << k:
        diffs.append(f"{name}: the table has {len(rows)} rows, not 2^{k}")
    codes = np.array([r[0] for r in rows], dtype=np.uint64)
    values = bitsim.decode(codes, fmt)
    m = p - 1
    for (code, text, subnormal), got in zip(rows, values):
        if text == "NaN":
            ok = math.isnan(got)
        elif text in ("Inf", "-Inf"):
            ok = math.isinf(got) and (got < 0) == text.startswith("-")
        else:
            ok = nearest_double(text) == got
        magnitude = code & ((1 << (k - 1)) - 1) if signed else code
        ours_subnormal = magnitude != 0 and (magnitude >> m) == 0 and not math.isnan(got)
        if not ok or ours_subnormal != subnormal:
            diffs.append(f"{name} code {code:#x}: table {text}{' (subnormal)' if subnormal else ''}, "
                         f"bitsim {float(got).hex()}{' (subnormal)' if ours_subnormal else ''}")
    # Codes whose value a double holds exactly encode back to themselves.
    exact = np.array([t not in ("NaN", "Inf", "-Inf") and math.isfinite(nearest_double(t)) and
                      Fraction(nearest_double(t)) == exact_hex(t) for _, t, _ in rows])
    back = bitsim.encode(values[exact], fmt)
    for code, again in zip(codes[exact], back):
        if code != again and not (code == 0 and again == 0):
            diffs.append(f"{name}: the value of code {int(code):#x} encodes to {int(again):#x}")
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", help='the "Value Tables/Hexadecimal" folder of a P3109/Public checkout')
    ap.add_argument("--max-k", type=int, default=16, help="largest width K to compare (default 16)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.tables:
            root = pathlib.Path(args.tables)
            if not root.is_dir():
                print(f"compare_p3109_tables: --tables '{root}' is not a directory", file=sys.stderr)
                return 2
        else:
            clone = pathlib.Path(tmp) / "Public"
            r = subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/P3109/Public", str(clone)])
            if r.returncode != 0:
                print("compare_p3109_tables: cannot clone P3109/Public (give --tables with a local copy)", file=sys.stderr)
                return 2
            root = clone / "Value Tables" / "Hexadecimal"
        tables = sorted((int(mt.group(1)), int(mt.group(2)), mt.group(3), mt.group(4), path)
                        for path in root.rglob("Binary*.csv") if (mt := NAME.fullmatch(path.name)))
        checked = codes = 0
        skipped = []
        diffs = []
        for k, p, sign, domain, path in tables:
            if k > args.max_k:
                continue
            name = f"binary{k}p{p}{sign}{domain}"
            try:
                bitsim.Format(name)
            except bitsim.FormatError as e:
                skipped.append(str(e))
                continue
            d = check_table(path, k, p, name, sign == "s")
            checked += 1
            codes += 1 << k
            diffs += d
        for line in diffs[:40]:
            print(line)
        for reason in sorted(set(skipped)):
            print("skipped:", reason)
        print(f"compare_p3109_tables: {checked} tables ({codes} codes) compared, {len(diffs)} differences; "
              f"{len(skipped)} tables skipped")
        if checked == 0:
            print("compare_p3109_tables: no table found under", root, file=sys.stderr)
            return 2
        return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
