"""Bad input raises bitsim.Error (a ValueError) or TypeError with the library's message and the fields
that say where; nothing crashes the interpreter."""

import numpy as np
import pytest

import bitsim

FIELDS = ("file", "line", "key", "option", "element")


def raised(call):
    with pytest.raises((bitsim.Error, TypeError)) as e:
        call()
    return e.value


@pytest.mark.parametrize("call,cls,option,text", [
    (lambda: bitsim.quantize([1.0], "fp9"), bitsim.FormatError, "fmt", "fmt: "),
    (lambda: bitsim.quantize([1.0], "fp16", "sr", sr_bits=0), bitsim.Error, "sr_bits", "sr_bits: 0: must be 1..32"),
    (lambda: bitsim.quantize([1.0], "fp16", seed=3), bitsim.Error, "seed", "applies only to rounding='sr'"),
    (lambda: bitsim.quantize([1.0], "fp16", "sr", seed=-1), bitsim.Error, "seed", "seed: -1: must be 0 .. 2^64 - 1"),
    (lambda: bitsim.quantize([1.0], "fp16", "sr", seed=1, random_words=np.ones(1, np.uint32)), bitsim.Error, "seed", "exclude"),
    (lambda: bitsim.quantize([1.0], "graham_L4", "rtz"), bitsim.Error, "rounding", "own rounding"),
    (lambda: bitsim.quantize([1.0], "fp16", threads=-2), bitsim.Error, "threads", "threads: -2"),
    (lambda: bitsim.decode([3, -1], "fp16"), bitsim.Error, "codes", "negative code"),
    (lambda: bitsim.op("mul", [1], [1], "fp16", nan="mips"), bitsim.Error, "nan", "nan: 'mips'"),
    (lambda: bitsim.op("mul", [1], [1], "fp16", tininess="never"), bitsim.Error, "tininess", "tininess: 'never'"),
    (lambda: bitsim.gemm(np.ones((2, 2)), np.ones((2, 2)), "fp16", "fp16", acc="fp16", order="diagonal"), bitsim.GemmError, "order", "order: "),
    (lambda: bitsim.Tensor(np.ones(4), "mx(element=fp8_e4m3,blocks=2)"), bitsim.FormatError, "policy", "policy: "),
])
def test_errors_name_the_argument(call, cls, option, text):
    e = raised(call)
    assert isinstance(e, cls) and isinstance(e, ValueError), e
    assert e.option == option and text in str(e), str(e)
    for name in FIELDS:
        assert hasattr(e, name)


def test_element_errors_carry_the_index():
    x = np.ones(200_000)
    x[150_001] = np.nan  # in the second block when two threads share the array
    for threads in (1, 2):
        e = raised(lambda: bitsim.quantize(x, "int8", threads=threads))
        assert isinstance(e, bitsim.QuantizeError) and e.element == 150_001 and "element 150001" in str(e)
        e = raised(lambda: bitsim.encode(x, "int8", flags=True, threads=threads))
        assert e.element == 150_001
    e = raised(lambda: bitsim.encode(np.array([1.0, 0.0]), "graham_L4"))
    assert isinstance(e, bitsim.QuantizeError) and e.element == 1 and "no code" in str(e)


def test_wrong_types_are_type_errors():
    for call in [lambda: bitsim.quantize(np.ones(3, dtype=np.int32), "fp16"),
                 lambda: bitsim.quantize(np.ones(3, dtype=np.float16), "fp16"),
                 lambda: bitsim.quantize([1.0], 16),
                 lambda: bitsim.quantize([1.0], "fp16", "sr", seed=1.5),
                 lambda: bitsim.decode(np.ones(3), "fp16"),
                 lambda: bitsim.op("add", [1.0], [2], "fp16")]:
        assert isinstance(raised(call), TypeError)
