"""bitsim.op gives the codes and flags of `bitsim op --codes --flags` for every operation, float and
fixed formats, every option set that matters to a test bench, random and special operands."""

import numpy as np
import pytest

import bitsim


def cli_op(cli, name, operands, fmt, to=None, options=()):
    lines = "\n".join(" ".join(f"{int(v):x}" for v in row) for row in zip(*operands)) + "\n"
    args = ["op", name, "--format", fmt, "--codes", "--flags", *options] + (["--to", to] if to else [])
    out = cli(*args, stdin=lines.encode()).decode().splitlines()
    codes = np.array([int(line.split("\t")[0], 16) for line in out], dtype=np.uint64)
    flags = np.array([int(line.split("\t")[2], 16) for line in out], dtype=np.uint8)
    return codes, flags


def operand_codes(fmt, rng, n):
    """Random codes plus the specials and edges (zeros, the largest and smallest values, NaN, Inf)."""
    width = bitsim.Format(fmt).width
    edges = [0, 1, 2, (1 << (width - 1)) - 1, 1 << (width - 1), (1 << width) - 1, (1 << (width - 1)) + 1]
    if width <= 16:
        return np.concatenate([rng.integers(0, 1 << width, n), edges]).astype(np.uint64)
    return np.concatenate([rng.integers(0, 1 << width, n, dtype=np.uint64), np.array(edges, dtype=np.uint64)])


CASES = [
    ("fp16", []), ("bf16", ["--rounding", "rtz"]), ("fp8_e4m3", ["--nan", "x86"]), ("fp8_e5m2", ["--tininess", "before"]),
    ("fp32", ["--daz", "--ftz"]), ("float(e=3,m=2,special=fnuz)", ["--rounding", "rup"]), ("int8", []),
    ("fixed(i=3,f=4,overflow=wrap)", ["--rounding", "rdn"]), ("fp8_e4m3", ["--rounding", "sr", "--seed", "17"]),
]
KEYWORDS = {"--rounding": "rounding", "--nan": "nan", "--tininess": "tininess", "--seed": "seed"}


def keywords(options):
    kw, i = {}, 0
    while i < len(options):
        if options[i] in ("--daz", "--ftz", "--notexact"):
            kw[options[i][2:]] = True
            i += 1
        else:
            kw[KEYWORDS[options[i]]] = int(options[i + 1]) if options[i] == "--seed" else options[i + 1]
            i += 2
    return kw


@pytest.mark.parametrize("fmt,options", CASES)
def test_every_operation_equals_the_cli(cli, fmt, options):
    rng = np.random.default_rng(len(fmt) * 31 + len(options))
    a, b, c = (operand_codes(fmt, rng, 300) for _ in range(3))
    b, c = rng.permutation(b), rng.permutation(c)
    kw = keywords(options)
    for name in bitsim.operations():
        if name == "convert":
            continue
        arity = {"sqrt": 1, "fma": 3}.get(name, 2)
        operands = [a, b, c][:arity]
        if bitsim.Format(fmt).family == "fixed" and name == "sqrt":
            operands = [a]
        want_codes, want_flags = cli_op(cli, name, operands, fmt, options=options)
        codes, flags = bitsim.op(name, *operands, fmt, **kw)
        assert codes.shape == a.shape and flags.dtype == np.uint8
        assert np.array_equal(codes.astype(np.uint64), want_codes), (fmt, name)
        assert np.array_equal(flags, want_flags), (fmt, name)


def test_conversions_equal_the_cli(cli):
    rng = np.random.default_rng(2)
    a = operand_codes("fp16", rng, 500)
    for to, options in [("fp8_e4m3", []), ("fp8_e5m2", ["--rounding", "rna"]), ("int8", ["--notexact"]),
                        ("int8", ["--nan", "arm"]), ("fp32", [])]:
        want_codes, want_flags = cli_op(cli, "convert", [a], "fp16", to=to, options=options)
        codes, flags = bitsim.op("convert", a, "fp16", to=to, **keywords(options))
        assert codes.dtype == (np.uint32 if to == "fp32" else np.uint8)
        assert np.array_equal(codes.astype(np.uint64), want_codes) and np.array_equal(flags, want_flags), to


def test_broadcasting_shapes_and_dtypes():
    a = np.array([[0x3C00], [0x4000]], dtype=np.uint16)  # 1, 2
    b = [0x3C00, 0x4000, 0x4200]                          # 1, 2, 3
    codes, flags = bitsim.op("mul", a, b, "fp16")
    assert codes.shape == (2, 3) and codes.dtype == np.uint16
    assert np.array_equal(bitsim.decode(codes, "fp16"), [[1, 2, 3], [2, 4, 6]])
    scalar, _ = bitsim.op("add", 0x3C00, 0x3C00, "fp16")
    assert scalar.shape == () and int(scalar) == 0x4000
    lt, _ = bitsim.op("lt", a, b, fmt="fp16")
    assert lt.dtype == np.uint8 and np.array_equal(lt, [[0, 1, 1], [0, 0, 1]])
    # A large batch on several threads equals one thread.
    rng = np.random.default_rng(9)
    x, y = rng.integers(0, 1 << 16, (2, 300_000), dtype=np.uint64)
    one = bitsim.op("div", x, y, "fp16", threads=1)
    two = bitsim.op("div", x, y, "fp16", threads=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_bad_operations_raise():
    with pytest.raises(bitsim.Error, match="name: unknown operation 'mull'"):
        bitsim.op("mull", [1], [2], "fp16")
    with pytest.raises(bitsim.Error, match="mul takes 2 operands, 1 given"):
        bitsim.op("mul", [1], "fp16")
    with pytest.raises(bitsim.ArithError) as e:
        bitsim.op("add", [1, 0x1FF], [1, 1], "fp8_e4m3")
    assert e.value.element == 1
    with pytest.raises(bitsim.Error, match="to: convert needs"):
        bitsim.op("convert", [1], "fp16")
    with pytest.raises(bitsim.Error, match="seed: applies only to rounding='sr'"):
        bitsim.op("add", [1], [1], "fp16", seed=3)
    with pytest.raises(bitsim.ArithError, match="Graham"):
        bitsim.op("add", [1], [1], "graham_L4")
    with pytest.raises(TypeError):
        bitsim.op("add", [1.5], [1], "fp16")
