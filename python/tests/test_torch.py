"""bitsim.torch: quantize, the Quantizer's forward and backward against a hand computation, QLinear and
QConv2d against bitsim.gemm and PyTorch's own layers, and the example training for a few steps."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import bitsim  # noqa: E402
import bitsim.torch as bt  # noqa: E402
from conftest import ROOT, same_bits  # noqa: E402


def test_quantize_equals_numpy():
    t = torch.randn(4, 33, generator=torch.Generator().manual_seed(1)) * 100
    for dtype in (torch.float32, torch.float64):
        x = t.to(dtype)
        q = bt.quantize(x, "fp8_e5m2", "sr", seed=3)
        assert q.dtype == dtype and q.shape == x.shape
        assert same_bits(q.numpy(), bitsim.quantize(x.numpy(), "fp8_e5m2", "sr", seed=3))
    assert same_bits(bt.quantize(t.t(), "bf16").numpy(), bitsim.quantize(t.t().contiguous().numpy(), "bf16"))
    with pytest.raises(TypeError):
        bt.quantize(t.to(torch.int32), "bf16")


def test_quantizer_forward_and_backward_by_hand():
    x = torch.tensor([0.1, 1.3, -7.7, 300.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.3, -0.01, 1e-6, 2.5], dtype=torch.float64)
    q = bt.Quantizer(forward_format="fp8_e4m3", backward_format="fp8_e5m2")
    y = q(x)
    # Forward: x rounded to E4M3 (1.3 -> 1.25, 300 -> 288); backward: the gradient w rounded to E5M2.
    assert y.tolist() == [0.1015625, 1.25, -7.5, 288.0]
    (y * w).sum().backward()
    assert x.grad.tolist() == [0.3125, -0.009765625, 0.0, 2.5]  # 0.01 = 1.28 x 2^-7 -> 1.25 x 2^-7; 1e-6 below half of 2^-16
    assert same_bits(x.grad.numpy(), bitsim.quantize(w.numpy(), "fp8_e5m2"))
    # None passes a direction unchanged; sr takes seed, seed + 1, ... per call.
    x.grad = None
    p = bt.Quantizer(forward_format=None, backward_format="fp8_e5m2", backward_rounding="sr", backward_seed=7)
    (p(x) * w).sum().backward()
    assert same_bits(x.grad.numpy(), bitsim.quantize(w.numpy(), "fp8_e5m2", "sr", seed=7))
    x.grad = None
    (p(x) * w).sum().backward()
    assert same_bits(x.grad.numpy(), bitsim.quantize(w.numpy(), "fp8_e5m2", "sr", seed=8))
    with pytest.raises(bitsim.FormatError):
        bt.Quantizer(forward_format="fp7")


def test_qlinear_runs_its_gemms_through_bitsim():
    torch.manual_seed(0)
    fwd = bt.GemmSpec("fp8_e4m3", "fp8_e4m3", acc="fp16", order="pairwise")
    gin = bt.GemmSpec("fp8_e5m2", "fp8_e4m3", acc="bf16")
    gw = bt.GemmSpec("fp8_e5m2", "fp16", acc="fp32", out_format="bf16")
    layer = bt.QLinear(20, 6, forward_spec=fwd, grad_input_spec=gin, grad_weight_spec=gw)
    x = torch.randn(5, 20, requires_grad=True)
    y = layer(x)
    w = layer.weight.detach().numpy()
    want = bitsim.gemm(x.detach().numpy(), w.T, "fp8_e4m3", "fp8_e4m3", acc="fp16", order="pairwise") + layer.bias.detach().numpy()
    assert np.array_equal(y.detach().numpy(), want.astype(np.float32))
    g = torch.randn(5, 6)
    y.backward(g)
    assert np.array_equal(x.grad.numpy(), bitsim.gemm(g.numpy(), w, "fp8_e5m2", "fp8_e4m3", acc="bf16").astype(np.float32))
    assert np.array_equal(layer.weight.grad.numpy(),
                          bitsim.gemm(g.numpy().T, x.detach().numpy(), "fp8_e5m2", "fp16", acc="fp32", out_format="bf16")
                          .astype(np.float32))
    assert np.array_equal(layer.bias.grad.numpy(), g.sum(0).numpy())
    # Leading dimensions are rows of the same GEMM.
    x3 = x.detach().reshape(5, 1, 20).expand(5, 3, 20)
    assert np.array_equal(layer(x3).detach().numpy(), np.repeat(y.detach().numpy()[:, None, :], 3, axis=1))
    with pytest.raises(ValueError, match="QLinear"):
        layer(torch.ones(5, 19))
    # With exact operands and accumulator it is nn.Linear in float64.
    exact = bt.GemmSpec("fp64", "fp64", acc="exact")
    e = bt.QLinear(20, 6, forward_spec=exact, grad_input_spec=exact, grad_weight_spec=exact, dtype=torch.float64)
    x64 = torch.randn(5, 20, dtype=torch.float64)
    assert torch.allclose(e(x64), torch.nn.functional.linear(x64, e.weight, e.bias), rtol=1e-13, atol=1e-13)


def test_qconv2d_equals_conv2d_and_its_gradients():
    torch.manual_seed(1)
    exact = bt.GemmSpec("fp64", "fp64", acc="exact")
    conv = bt.QConv2d(3, 4, 3, stride=2, padding=1, forward_spec=exact, grad_input_spec=exact, grad_weight_spec=exact,
                      dtype=torch.float64)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
    assert y.shape == ref.shape and torch.allclose(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad(y, (x, conv.weight, conv.bias), g)
    rx, rw, rb = torch.autograd.grad(ref, (x, conv.weight, conv.bias), g)
    assert torch.allclose(gx, rx, rtol=1e-12, atol=1e-12) and torch.allclose(gw, rw, rtol=1e-12, atol=1e-12)
    assert torch.allclose(gb, rb)
    # In FP8 its forward is bitsim.gemm on the im2col patches.
    fp8 = bt.QConv2d(3, 4, 3, padding=1, forward_spec=bt.GemmSpec("fp8_e4m3", "fp8_e4m3", acc="fp16"), bias=False)
    x32 = torch.randn(1, 3, 5, 5)
    cols = torch.nn.functional.unfold(x32, 3, padding=1)[0].t().numpy()
    want = bitsim.gemm(cols, fp8.weight.detach().reshape(4, -1).numpy().T, "fp8_e4m3", "fp8_e4m3", acc="fp16")
    assert np.array_equal(fp8(x32).detach().numpy().reshape(4, 25), want.T.astype(np.float32))


def test_the_example_trains(tmp_path):
    if not (ROOT / "examples/python/train_fashion_mnist_fp8.py").exists():
        pytest.fail("examples/python/train_fashion_mnist_fp8.py is missing")
    if not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    done = subprocess.run([sys.executable, str(ROOT / "examples/python/train_fashion_mnist_fp8.py"), "--steps", "60",
                           "--limit-test", "500"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    losses = [float(line.split("loss ")[1].split()[0]) for line in done.stdout.splitlines() if "loss" in line]
    accuracy = float(done.stdout.split("test accuracy ")[1].split("%")[0])
    assert len(losses) == 2 and losses[-1] < losses[0] and accuracy > 50, done.stdout
