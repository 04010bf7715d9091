"""bitsim.Tensor with its policies, checked against the rules of docs/tensor.md computed by hand from
quantize(): MX block scales, power-of-two scaling, affine codes; stochastic rounding reproducible."""

import math

import numpy as np
import pytest

import bitsim
from conftest import same_bits


def test_mx_blocks_by_hand():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (3, 80)) * np.exp2(rng.integers(-20, 20, (3, 1)))
    x[1, 40] = 0.0
    x[2, 64:] = 0.0  # an all-zero block
    t = bitsim.Tensor(x, "mxfp8_e4m3")
    assert t.kind == "mx" and t.shape == (3, 80) and t.num_groups == 3 * 3  # blocks of 32: 32, 32, 16
    element = "float(e=4,m=3,special=fn,overflow=saturate)"
    want = np.empty_like(x)
    k = 0
    for row in range(3):
        for start in range(0, 80, 32):
            block = x[row, start:start + 32]
            amax = np.max(np.abs(block))
            e = -127 if amax == 0 else max(-127, min(127, math.floor(math.log2(amax)) - 8))
            assert t.exponents[k] == e and t.e8m0[k] == e + 127 and t.scales[k] == 2.0 ** e
            want[row, start:start + 32] = bitsim.quantize(block / 2.0 ** e, element) * 2.0 ** e
            assert np.array_equal(t.codes[row, start:start + 32], bitsim.encode(block / 2.0 ** e, element))
            k += 1
    assert same_bits(t.values(), want)
    assert same_bits(t.values(float32=True), want.astype(np.float32))
    assert t.group_of(33) == 1 and t.group_of(80) == 3


def test_scaled_pow2_and_affine():
    x = np.random.default_rng(2).normal(0, 50, (4, 16))
    t = bitsim.Tensor(x, "scaled(format=fp8_e4m3,scale=pow2)")
    s = 2.0 ** math.ceil(math.log2(np.max(np.abs(x)) / 448))
    assert t.num_groups == 1 and t.scales[0] == s
    assert same_bits(t.values(), bitsim.quantize(x / s, "fp8_e4m3") * s)
    per_row = bitsim.Tensor(x, "scaled(format=int8,scale=pow2,axis=0)")
    assert per_row.num_groups == 4
    a = bitsim.Tensor(x, "affine(bits=8,axis=0)")
    codes = a.codes.astype(np.int64)
    assert a.codes.dtype == np.uint8 and a.num_groups == 4
    assert np.allclose(a.values(), (codes - a.zero_points[:, None]) * a.scales[:, None], rtol=1e-15, atol=0)


def test_stochastic_rounding_is_reproducible():
    x = np.random.default_rng(3).normal(0, 1, (2, 64)).astype(np.float32)
    a = bitsim.Tensor(x, "mxfp4_e2m1", rounding="sr", seed=5)
    b = bitsim.Tensor(x, "mxfp4_e2m1", rounding="sr", seed=5)
    c = bitsim.Tensor(x, "mxfp4_e2m1", rounding="sr", seed=6)
    assert np.array_equal(a.codes, b.codes) and not np.array_equal(a.codes, c.codes)
    assert a.rounding == "sr" and a.seed == 5
    # An element-wise policy is quantize() itself, Philox word i for element i.
    e = bitsim.Tensor(x, "bf16", rounding="sr", seed=9)
    assert same_bits(e.values(float32=True), bitsim.quantize(x, "bf16", "sr", seed=9))


def test_requantize_and_errors():
    x = np.ones((2, 32))
    t = bitsim.Tensor(x, "mxint8")
    t.quantize(x * 3)
    assert same_bits(t.values(), x * 3)
    with pytest.raises(bitsim.Error):
        t.quantize(np.ones(5))
    with pytest.raises(bitsim.FormatError, match="^policy: "):
        bitsim.Tensor(x, "mx(element=fp8_e4m3,block=0)")
    with pytest.raises(bitsim.QuantizeError):
        bitsim.Tensor(np.array([1.0, np.nan]), "int8")
    with pytest.raises(TypeError):
        bitsim.Tensor(np.ones(3, dtype=np.int32), "int8")
