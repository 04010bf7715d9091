"""bitsim from Python: exact number formats, rounding of numpy arrays, format-carrying tensors,
GEMMs with explicit accumulation and golden arithmetic for test benches (docs/python.md).

Every result comes from bitsim's C++ library (the extension module ``bitsim._bitsim``), the same code
as the ``bitsim`` command line, so the bits are the same: ``quantize`` gives what ``bitsim quantize``
gives, ``gemm`` what ``bitsim gemm`` gives, ``op`` what ``bitsim op`` gives.

    >>> import numpy as np, bitsim
    >>> bitsim.quantize(np.array([0.1, 300.0, 1e-9]), "fp8_e4m3")
    array([0.1015625, 288.       , 0.       ])
    >>> codes, flags = bitsim.op("mul", [0x38, 0x7e], [0x40, 0x40], "fp8_e4m3")

Errors are bitsim.Error (a ValueError) and its subclasses FormatError, QuantizeError, ArithError,
GemmError and TensorError, with the attributes file, line, key, option and element.
"""

from __future__ import annotations

import numpy as _np

from . import _bitsim
from ._bitsim import (  # noqa: F401  (the public names of the extension)
    ArithError,
    Error,
    Format,
    FormatError,
    GemmError,
    QuantizeError,
    Tensor,
    TensorError,
    aliases,
    operations,
    version_line,
)

__version__ = _bitsim.__version__

__all__ = [
    "ArithError", "Error", "Format", "FormatError", "GemmError", "QuantizeError", "Tensor", "TensorError",
    "aliases", "decode", "encode", "gemm", "op", "operations", "quantize", "version_line",
]


def _real_array(x, name="x"):
    """x as an ndarray; Python numbers and lists become float64 (as the CLI reads text: nearest double)."""
    if isinstance(x, _np.ndarray):
        return x
    a = _np.asarray(x)
    if a.dtype.kind in "biuf" and a.dtype != _np.float32:
        return a.astype(_np.float64)
    return a


def _error(message, cls=None, **fields):
    """A bitsim.Error raised from Python, with the same attributes as the library's."""
    e = (cls or Error)(message)
    for name in ("file", "line", "key", "option", "element"):
        setattr(e, name, fields.get(name))
    return e


def _seed(seed):
    """None, or a seed checked to be an integer 0 .. 2^64 - 1 (Philox4x32-10 takes 64 bits)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, _np.integer)):
        raise TypeError(f"seed: expected an integer, not {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise _error(f"seed: {seed}: must be 0 .. 2^64 - 1", option="seed")
    return int(seed)


def quantize(x, fmt, rounding="rne", *, seed=None, sr_bits=None, random_words=None, flags=False, threads=0, out=None):
    """Rounds every element of x to the format fmt and returns the values, an array of x's dtype and shape.

    x: float32 or float64 array of any shape and strides (lists and numbers are read as float64); a
    C-contiguous array is read in place, without a copy. fmt: a format name, constructor or Format.
    rounding: rne, rna, rtz, rup, rdn, or sr (stochastic: element i in C order takes the 32-bit word i
    of the Philox4x32-10 stream of `seed`, or random_words[i]; sr_bits of it are used, default 32).
    flags=True returns (values, flags) with one uint8 of exception flags per element (0x10 invalid,
    0x04 overflow, 0x02 underflow, 0x01 inexact). out: an array of x's dtype and shape to write (may
    be x itself). threads: 0 = every core (the result never depends on it). The GIL is released.
    Values a float32 array cannot hold (formats wider than fp32) need float64 input.
    """
    values, element_flags = _bitsim._round(_real_array(x), fmt, rounding, sr_bits, _seed(seed), random_words, False, flags, threads, out)
    return (values, element_flags) if flags else values


def encode(x, fmt, rounding="rne", *, seed=None, sr_bits=None, random_words=None, flags=False, threads=0):
    """Like quantize(), but returns the codes (bit patterns) in the smallest unsigned dtype that holds
    them (uint8 up to 8 bits, uint16, uint32, uint64); flags=True returns (codes, flags)."""
    codes, element_flags = _bitsim._round(_real_array(x), fmt, rounding, sr_bits, _seed(seed), random_words, True, flags, threads, None)
    return (codes, element_flags) if flags else codes


def _code_array(codes, name):
    a = _np.asarray(codes)
    if a.size == 0 and not isinstance(codes, _np.ndarray):
        a = a.astype(_np.uint64)  # an empty list reads as float64
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer codes, not dtype {a.dtype}")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        index = int(_np.flatnonzero(a.reshape(-1) < 0)[0])
        raise _error(f"{name}: element {index}: negative code {int(a.reshape(-1)[index])}", option=name, element=index)
    return _np.require(a, dtype=_np.uint64, requirements=["C"])  # keeps 0-d arrays 0-d


def decode(codes, fmt, *, dtype=_np.float64, threads=0):
    """The values of codes (an integer array of any shape) in fmt, as float64 (or dtype=float32 where
    every value of the format is a float). A code wider than the format or one it does not use raises
    QuantizeError naming the element."""
    dtype = _np.dtype(dtype)
    if dtype not in (_np.float32, _np.float64):
        raise TypeError(f"dtype: expected float32 or float64, not {dtype}")
    return _bitsim._decode(_code_array(codes, "codes"), fmt, dtype == _np.float32, threads)


def op(name, *args, fmt=None, to=None, rounding="rne", tininess="after", nan="canonical", daz=False, ftz=False,
       notexact=False, sr_bits=None, seed=None, random_words=None, threads=0):
    """The golden result of operation `name` on arrays of operand codes: returns (codes, flags).

    Called as op("mul", a, b, "fp16"), op("sqrt", a, "bf16"), op("fma", a, b, c, fmt="fp32"),
    op("convert", a, "fp32", to="fp8_e4m3"). Operands are integer arrays (or lists) of codes of fmt,
    broadcast against each other; the result has their shape, codes in the smallest unsigned dtype of
    the result format (comparisons: 0 or 1), flags uint8 (0x10 invalid, 0x08 divide by zero, 0x04
    overflow, 0x02 underflow, 0x01 inexact). Options as docs/hardware.md describes them: tininess
    after|before, nan canonical|riscv|x86|arm, daz, ftz, notexact (conversions to fixed point). Under
    rounding="sr" element i takes Philox word i of seed (or random_words[i]), as `bitsim op` does.
    """
    if fmt is None:
        if not args:
            raise TypeError("op(): missing the format (op(name, a[, b[, c]], fmt))")
        *args, fmt = args
    if not 1 <= len(args) <= 3:
        raise TypeError(f"op(): expected 1 to 3 operand arrays, got {len(args)}")
    operands = _np.broadcast_arrays(*[_code_array(a, "abc"[i]) for i, a in enumerate(args)])
    operands = [_np.require(a, requirements=["C"]) for a in operands]
    while len(operands) < 3:
        operands.append(None)
    return _bitsim._op(name, operands[0], operands[1], operands[2], fmt, to, rounding, sr_bits, tininess, nan, daz, ftz,
                       notexact, _seed(seed), random_words, threads)


class GemmResult(tuple):
    """(values, codes, path) of gemm(..., full=True): C as float64, C's codes (or None), the kernel used."""

    __slots__ = ()

    def __new__(cls, values, codes, path):
        return super().__new__(cls, (values, codes, path))

    values = property(lambda self: self[0])
    codes = property(lambda self: self[1])
    path = property(lambda self: self[2])


def gemm(a, b, a_format, b_format, product=None, acc="fp32", order=None, chunk=None, out_format=None, rounding="rne",
         *, codes=False, threads=0, full=False):
    """C = A x B with docs/spec/gemm.md's rounding points: A and B rounded to a_format and b_format,
    each product rounded to `product` (None or "exact": exact products), accumulated in `acc` ("exact":
    one exact sum) in `order` ("sequential", "pairwise", "blocked" with `chunk` products per step, or
    "aligned(group=G,width=W,...)", the fused multi-term adder), the result rounded to out_format
    (default: acc's format, or fp64 when acc is "exact"). rounding applies to products, accumulator and
    output (rne, rna, rtz, rup, rdn). a, b: 2-D arrays (read as float64). Returns C as float64 values,
    or its codes with codes=True; full=True returns GemmResult(values, codes, path). Same bits as
    `bitsim gemm`; results do not depend on threads (0 = every core).
    """
    if out_format is None:
        out_format = "fp64" if isinstance(acc, str) and acc == "exact" else acc
    values, out_codes, path = _bitsim._gemm(_np.asarray(a, dtype=_np.float64), _np.asarray(b, dtype=_np.float64), a_format,
                                            b_format, product, acc, order, chunk, out_format, rounding, threads,
                                            codes or full)
    if full:
        return GemmResult(values, out_codes, path)
    return out_codes if codes else values
