"""bitsim.gemm gives the values and codes of `bitsim gemm` for every accumulation order, exact and
rounded products and accumulators, and the aligned (fused multi-term adder) datapath."""

import numpy as np
import pytest

import bitsim
from conftest import same_bits


def write_matrix(path, m):
    path.write_text("\n".join(" ".join(float(v).hex() for v in row) for row in m) + "\n")


def cli_gemm(cli, tmp_path, a, b, args, codes):
    write_matrix(tmp_path / "a.txt", a)
    write_matrix(tmp_path / "b.txt", b)
    out = cli("gemm", "--a", str(tmp_path / "a.txt"), "--b", str(tmp_path / "b.txt"), *args, *(["--codes"] if codes else []))
    rows = [line.split() for line in out.decode().splitlines()]
    if codes:
        return np.array([[int(v, 16) for v in row] for row in rows], dtype=np.uint64)
    return np.array([[float.fromhex(v) if v not in ("nan", "inf", "-inf") else float(v) for v in row] for row in rows])


CONFIGS = [
    dict(a_format="fp8_e4m3", b_format="fp8_e4m3", acc="fp32", out_format="bf16"),
    dict(a_format="fp8_e5m2", b_format="fp8_e4m3", product="fp16", acc="fp16", order="pairwise", out_format="fp16"),
    dict(a_format="bf16", b_format="bf16", acc="bf16", order="blocked", chunk=4, out_format="bf16", rounding="rtz"),
    dict(a_format="fp16", b_format="fp16", acc="exact", out_format="fp32"),
    dict(a_format="int8", b_format="int8", acc="fixed(i=20,f=0)", out_format="fixed(i=20,f=0)"),
    dict(a_format="fp8_e4m3", b_format="fp8_e4m3", acc="fp32",
         order="aligned(group=16,width=14,beyond=truncate)", out_format="fp32"),
]


def cli_args(c):
    args = []
    for key, value in c.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    if "product" not in c:
        args += ["--product", "exact"]
    return args


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values())[:60])
def test_gemm_equals_the_cli(cli, tmp_path, config):
    rng = np.random.default_rng(len(str(config)))
    a = rng.normal(0, 4, (7, 37))
    b = rng.normal(0, 4, (37, 5))
    if config["a_format"] == "int8":
        a, b = np.round(a * 8), np.round(b * 8)
    want = cli_gemm(cli, tmp_path, a, b, cli_args(config), False)
    want_codes = cli_gemm(cli, tmp_path, a, b, cli_args(config), True)
    got = bitsim.gemm(a, b, **config)
    assert got.shape == (7, 5) and same_bits(got, want)
    r = bitsim.gemm(a.astype(np.float32), b, **config, full=True, threads=2)
    assert same_bits(r.values, want) and np.array_equal(r.codes.astype(np.uint64), want_codes) and r.path


def test_gemm_options_are_checked():
    a = np.ones((2, 3))
    with pytest.raises(bitsim.GemmError, match="^order: ") as e:
        bitsim.gemm(a, a.T, "fp16", "fp16", acc="fp32", order="aligned(group=0,width=10)")
    assert e.value.option == "order"
    with pytest.raises(bitsim.Error, match="order: an exact accumulator"):
        bitsim.gemm(a, a.T, "fp16", "fp16", acc="exact", order="pairwise")
    with pytest.raises(bitsim.Error, match="chunk: 4: applies only to order='blocked'"):
        bitsim.gemm(a, a.T, "fp16", "fp16", acc="fp32", chunk=4)
    with pytest.raises(bitsim.FormatError, match="^acc: "):
        bitsim.gemm(a, a.T, "fp16", "fp16", acc="fp99")
    with pytest.raises(bitsim.Error, match="b: A has 3 columns but B has 2 rows"):
        bitsim.gemm(a, a, "fp16", "fp16")
    with pytest.raises(bitsim.Error, match="rounding: unknown rounding 'sr'"):
        bitsim.gemm(a, a.T, "fp16", "fp16", rounding="sr")
