"""Fixtures of the Python package's tests: the bitsim program they compare with (BITSIM_CLI, set by
CTest; else build/bitsim of this checkout) and helpers to run it on numpy arrays."""

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    path = Path(os.environ.get("BITSIM_CLI", ROOT / "build" / "bitsim"))
    if not path.exists():
        pytest.fail(f"the bitsim program is needed for the comparisons: {path} does not exist (set BITSIM_CLI)")

    def run(*args, stdin=b""):
        done = subprocess.run([str(path), *args], input=stdin, capture_output=True)
        if done.returncode != 0:
            raise AssertionError(f"bitsim {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()}")
        return done.stdout

    return run


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def npy_load(data):
    return np.load(io.BytesIO(data))


def same_bits(a, b):
    """Element-wise identity of two float arrays, NaN equal to NaN, -0 distinct from +0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(np.uint64) == b.view(np.uint64))))
