"""bitsim.Format: the facts `bitsim formats describe` prints, the alias list of `bitsim formats list`,
and code tables that agree with decode()."""

import pickle
import re
from fractions import Fraction

import numpy as np
import pytest

import bitsim
from conftest import same_bits


def describe_field(text, name):
    m = re.search(rf"^{re.escape(name)}\s+(\S+)", text, re.M)
    return m.group(1)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2", "fp16", "bf16", "fp32", "fp64", "float(e=3,m=2,special=fnuz)",
                                 "float(e=5,m=2,subnormals=no,overflow=saturate)", "fp6_e2m3", "fp4_e2m1"])
def test_float_facts_equal_describe(cli, fmt):
    f = bitsim.Format(fmt)
    text = cli("formats", "describe", fmt).decode()
    assert f.describe() == text
    assert f.family == "float" and f.width == 1 + f.e + f.m
    assert f.width == int(describe_field(text, "width"))
    assert f.bias == int(describe_field(text, "bias"))
    assert f.largest_finite == float.fromhex(describe_field(text, "largest finite"))
    if f.smallest_normal is not None:
        assert f.smallest_normal == float.fromhex(describe_field(text, "smallest normal"))
        assert f.smallest_normal == 2.0 ** f.emin
        assert f.epsilon == 2.0 ** -f.m == float.fromhex(describe_field(text, "machine epsilon"))
        assert f.exact()["largest_finite"] == Fraction(f.largest_finite)
        assert Fraction(2) ** f.emax <= Fraction(f.largest_finite) < Fraction(2) ** (f.emax + 1)
    assert f.special == describe_field(text, "special")
    assert f.has_inf == (f.special == "ieee")


def test_fixed_and_graham_facts(cli):
    f = bitsim.Format("fixed(i=3,f=4)")
    assert (f.family, f.width, f.integer_bits, f.fraction_bits, f.signed, f.overflow) == ("fixed", 8, 3, 4, True, "saturate")
    assert f.largest_finite == 127 / 16 and f.most_negative == -8 and f.epsilon == 1 / 16
    assert f.exact()["most_negative"] == -8 and f.e is None
    g = bitsim.Format("graham_L4")
    assert g.family == "log" and g.own_rounding and not g.is_binary and g.describe() == cli("formats", "describe", "graham_L4").decode()
    with pytest.raises(bitsim.FormatError):
        g.exact()


def test_aliases_equal_the_list(cli):
    listed = {}
    for line in cli("formats", "list").decode().splitlines():
        alias, meaning = line.split(None, 1)
        listed[alias] = meaning.strip()
    assert bitsim.aliases() == listed
    for alias in listed:
        f = bitsim.Format(alias)
        assert f.alias == alias and f.name == alias
        assert bitsim.Format(f.canonical) == f


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "int8", "graham_L4", "graham_O4", "fp16",
                                 "float(e=3,m=2,special=fnuz)"])
def test_code_tables_agree_with_decode(fmt):
    table = bitsim.Format(fmt).codes()
    n = 1 << bitsim.Format(fmt).width
    assert table["code"].shape == (n,) and np.array_equal(table["code"], np.arange(n))
    used = table["code"][table["used"]]
    assert same_bits(bitsim.decode(used, fmt), table["value"][table["used"]])
    if not table["used"].all():
        with pytest.raises(bitsim.QuantizeError):
            bitsim.decode(table["code"][~table["used"]][:1], fmt)


def test_format_values_behave():
    f = bitsim.Format("fp8_e4m3")
    assert f == bitsim.Format("float(e=4,m=3,special=fn)") and hash(f) == hash(bitsim.Format(f.canonical))
    assert pickle.loads(pickle.dumps(f)) == f and repr(f) == "bitsim.Format('fp8_e4m3')" and str(f) == "fp8_e4m3"
    assert np.array_equal(bitsim.quantize([1.1], f), bitsim.quantize([1.1], "fp8_e4m3"))
    with pytest.raises(bitsim.FormatError) as e:
        bitsim.Format("float(e=4,m=3,bogus=1)")
    assert "bogus" in str(e.value) and e.value.key == "bogus" and isinstance(e.value, ValueError)
    with pytest.raises(bitsim.FormatError, match="16 bits"):
        bitsim.Format("fp32").codes()
    with pytest.raises(TypeError):
        bitsim.quantize([1.0], 8)


def test_unsigned_p3109_format(cli):
    f = bitsim.Format("binary8p3ue")
    assert (f.family, f.width, f.e, f.m, f.bias, f.signed) == ("float", 8, 6, 2, 32, False)
    assert f.is_binary and not f.has_arithmetic and bitsim.Format("binary8p3se").has_arithmetic
    assert f.most_negative == 0 and f.largest_finite == float.fromhex("0x1.4p+31")
    assert f.describe() == cli("formats", "describe", "binary8p3ue").decode()
    # Negative inputs give +0; +Inf and NaN their codes 0xfe and 0xff.
    values = bitsim.quantize(np.array([-1.0, -np.inf, 1.0, np.inf, np.nan]), f)
    assert values[0] == 0 and not np.signbit(values[0]) and values[1] == 0 and values[2] == 1 and values[3] == np.inf
    assert np.array_equal(bitsim.encode(np.array([1.0, np.inf, np.nan, -3.0]), f), [0x80, 0xFE, 0xFF, 0x00])
    with pytest.raises(bitsim.ArithError, match="unsigned"):
        bitsim.op("add", [0x80], [0x80], f)


def test_e8m0_format_without_zero(cli):
    f = bitsim.Format("e8m0")
    assert (f.family, f.width, f.e, f.m, f.bias, f.signed, f.has_zero) == ("float", 8, 8, 0, 127, False, False)
    assert bitsim.Format("binary8p3ue").has_zero and bitsim.Format("int8").has_zero is None
    assert (f.emin, f.emax) == (-127, 127)
    assert f.most_negative == 2.0**-127 and f.largest_finite == 2.0**127
    assert f.describe() == cli("formats", "describe", "e8m0").decode()
    # OCP MX: code c is 2^(c-127), 0xff the NaN; zero, tiny and negative inputs give code 0.
    codes = np.arange(255, dtype=np.uint64)
    assert np.array_equal(bitsim.decode(codes, f), np.ldexp(1.0, codes.astype(np.int64) - 127))
    assert np.array_equal(bitsim.encode(np.array([1.0, 0.0, 1e-40, -3.0, np.nan, 1e39]), f), [0x7F, 0, 0, 0, 0xFF, 0xFE])
    assert np.array_equal(bitsim.encode(np.array([3.0, 0.75]), f, rounding="rdn"), [0x80, 0x7E])
