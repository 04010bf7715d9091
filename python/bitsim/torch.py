"""bitsim inside PyTorch models (CPU): rounding tensors with bitsim's exact formats, a quantizer with
separate forward and backward formats (the QPyTorch ``Quantizer(forward_number, backward_number)``
pattern), and linear and convolution layers whose products run through bitsim's GEMM with a chosen
accumulator (the MPTorch ``QLinear`` / ``QConv2d`` pattern). docs/python.md has examples.

Every rounding is bitsim's (bitsim.quantize, bitsim.gemm): the same bits as the command line. Tensors
are handed to the library without copies where they are contiguous float32 or float64 CPU tensors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import bitsim

__all__ = ["quantize", "Quantizer", "GemmSpec", "QLinear", "QConv2d", "quantized_gemm"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    if t.device.type != "cpu":
        raise ValueError(f"bitsim.torch: tensors must be on the CPU, not {t.device}")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"bitsim.torch: dtype {t.dtype} is not float32 or float64")
    return t.detach().contiguous().numpy()


def quantize(t: torch.Tensor, fmt, rounding="rne", *, seed=None, sr_bits=None, threads=0) -> torch.Tensor:
    """t rounded to fmt (bitsim.quantize), a new tensor of t's dtype and shape; no gradient flows
    (use Quantizer for that). Under rounding="sr" element i (C order) takes Philox word i of seed."""
    return torch.from_numpy(bitsim.quantize(_numpy(t), fmt, rounding, seed=seed, sr_bits=sr_bits, threads=threads))


class _Seeds:
    """Seeds of successive stochastic roundings: seed, seed + 1, ... (one per call), so that a run is
    reproducible from its first seed and no two calls reuse Philox words."""

    def __init__(self, seed):
        self.next = seed

    def take(self, rounding):
        if rounding != "sr":
            return None
        s = self.next
        self.next = (self.next + 1) % 2**64
        return s


class _QuantizeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, quantizer):
        ctx.quantizer = quantizer
        q = quantizer
        if q.forward_format is None:
            return x.clone()
        return quantize(x, q.forward_format, q.forward_rounding, seed=q._forward_seeds.take(q.forward_rounding))

    @staticmethod
    def backward(ctx, grad):
        q = ctx.quantizer
        if q.backward_format is None:
            return grad, None
        return quantize(grad, q.backward_format, q.backward_rounding, seed=q._backward_seeds.take(q.backward_rounding)), None


class Quantizer(torch.nn.Module):
    """Rounds its input to forward_format in the forward pass and the gradient flowing back through it
    to backward_format in the backward pass (None: that direction passes unchanged). Put one after a
    layer to round its activations (A) forward and its errors (E = dL/dA) backward.

    Stochastic rounding ("sr") takes a new seed per call: forward_seed, forward_seed + 1, ...
    """

    def __init__(self, forward_format=None, backward_format=None, forward_rounding="rne", backward_rounding="rne",
                 forward_seed=0, backward_seed=0):
        super().__init__()
        # Formats are checked now, not at the first call.
        self.forward_format = bitsim.Format(forward_format) if isinstance(forward_format, str) else forward_format
        self.backward_format = bitsim.Format(backward_format) if isinstance(backward_format, str) else backward_format
        self.forward_rounding = forward_rounding
        self.backward_rounding = backward_rounding
        self._forward_seeds = _Seeds(forward_seed)
        self._backward_seeds = _Seeds(backward_seed)

    def forward(self, x):
        return _QuantizeFunction.apply(x, self)

    def extra_repr(self):
        return (f"forward={self.forward_format} ({self.forward_rounding}), "
                f"backward={self.backward_format} ({self.backward_rounding})")


class GemmSpec:
    """One GEMM's rounding: the formats its two operands are rounded to (a_format, b_format), the
    product's format (None: exact), the accumulator (a format or "exact"), the order
    (None = sequential, "pairwise", "blocked" with chunk, or "aligned(...)") and the output format
    (None: the accumulator's; fp64 for "exact"), with one rounding mode (rne, rna, rtz, rup, rdn);
    docs/spec/gemm.md."""

    def __init__(self, a_format="fp32", b_format="fp32", product=None, acc="fp32", order=None, chunk=None,
                 out_format=None, rounding="rne"):
        self.kw = dict(a_format=a_format, b_format=b_format, product=product, acc=acc, order=order, chunk=chunk,
                       out_format=out_format, rounding=rounding)
        bitsim.gemm(np.zeros((1, 1)), np.zeros((1, 1)), **self.kw)  # checks every field now

    def __repr__(self):
        return "GemmSpec(" + ", ".join(f"{k}={v!r}" for k, v in self.kw.items() if v is not None) + ")"


def quantized_gemm(a: torch.Tensor, b: torch.Tensor, spec: GemmSpec, threads=0) -> torch.Tensor:
    """a @ b computed by bitsim.gemm under spec, as a tensor of a's dtype (no gradient)."""
    c = bitsim.gemm(_numpy(a), _numpy(b), threads=threads, **spec.kw)
    return torch.from_numpy(c).to(a.dtype)


def _set_specs(layer, forward_spec, grad_input_spec, grad_weight_spec):
    """A layer's three GEMM specs; the backward ones default to fp32 operands with the forward accumulator."""
    layer.forward_spec = forward_spec or GemmSpec()
    layer.grad_input_spec = grad_input_spec or GemmSpec(acc=layer.forward_spec.kw["acc"])
    layer.grad_weight_spec = grad_weight_spec or GemmSpec(acc=layer.forward_spec.kw["acc"])


class _LinearFunction(torch.autograd.Function):
    """y = x W^T + b with the three GEMMs of a linear layer through bitsim: forward (x, W^T), grad_x
    (grad_y, W) and grad_W (grad_y^T, x), each under its own spec; the bias and its gradient in PyTorch."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        y = quantized_gemm(x, weight.t(), layer.forward_spec)
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        layer = ctx.layer
        grad_x = quantized_gemm(grad_y, weight, layer.grad_input_spec) if ctx.needs_input_grad[0] else None
        grad_w = quantized_gemm(grad_y.t(), x, layer.grad_weight_spec) if ctx.needs_input_grad[1] else None
        grad_b = grad_y.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


class QLinear(torch.nn.Linear):
    """torch.nn.Linear whose products run through bitsim's GEMM: forward_spec rounds x (a_format) and
    W (b_format) and accumulates y; grad_input_spec the GEMM grad_y x W; grad_weight_spec grad_y^T x x
    (defaults: the forward spec's accumulator with fp32 operands). Input of shape (..., in_features),
    its leading dimensions flattened into the GEMM's rows."""

    def __init__(self, in_features, out_features, bias=True, forward_spec=None, grad_input_spec=None,
                 grad_weight_spec=None, dtype=torch.float32):
        super().__init__(in_features, out_features, bias=bias, dtype=dtype)
        _set_specs(self, forward_spec, grad_input_spec, grad_weight_spec)

    def forward(self, x):
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"QLinear: expected input of shape (..., {self.in_features}), not {tuple(x.shape)}")
        # Leading dimensions (batch, sequence, ...) are rows of one GEMM, as nn.Linear treats them.
        y = _LinearFunction.apply(x.reshape(-1, self.in_features), self.weight, self.bias, self)
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self):
        return f"{super().extra_repr()}, forward={self.forward_spec}"


class _Conv2dFunction(torch.autograd.Function):
    """A convolution as GEMMs on unfolded patches (im2col): forward (patches, W^T), grad of the patches
    (grad_y, W), folded back into grad_x, and grad_W (grad_y^T, patches), each under its layer's spec."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        n, _, h, w = x.shape
        k = layer.kernel_size
        patches = F.unfold(x, k, dilation=layer.dilation, padding=layer.padding, stride=layer.stride)  # N, C*kh*kw, L
        length = patches.shape[2]
        cols = patches.transpose(1, 2).reshape(n * length, -1)
        y = quantized_gemm(cols, weight.reshape(weight.shape[0], -1).t(), layer.forward_spec)  # N*L, out
        oh = (h + 2 * layer.padding[0] - layer.dilation[0] * (k[0] - 1) - 1) // layer.stride[0] + 1
        ow = (w + 2 * layer.padding[1] - layer.dilation[1] * (k[1] - 1) - 1) // layer.stride[1] + 1
        y = y.reshape(n, length, -1).transpose(1, 2).reshape(n, -1, oh, ow)
        ctx.save_for_backward(cols, weight)
        ctx.layer, ctx.input_hw = layer, (h, w)
        return y if bias is None else y + bias.reshape(1, -1, 1, 1)

    @staticmethod
    def backward(ctx, grad_y):
        cols, weight = ctx.saved_tensors
        layer = ctx.layer
        n, out = grad_y.shape[0], grad_y.shape[1]
        g = grad_y.reshape(n, out, -1).transpose(1, 2).reshape(-1, out)  # N*L, out
        w2 = weight.reshape(out, -1)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            gcols = quantized_gemm(g, w2, layer.grad_input_spec)  # N*L, C*kh*kw
            gcols = gcols.reshape(n, -1, gcols.shape[1]).transpose(1, 2)
            grad_x = F.fold(gcols, ctx.input_hw, layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                            stride=layer.stride)
        if ctx.needs_input_grad[1]:
            grad_w = quantized_gemm(g.t(), cols, layer.grad_weight_spec).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            grad_b = grad_y.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


class QConv2d(torch.nn.Conv2d):
    """torch.nn.Conv2d (groups=1, zero padding) whose products run through bitsim's GEMM on im2col
    patches, with the three specs of QLinear. The order of accumulation is over (channel, kernel row,
    kernel column), F.unfold's order. Note: the gradient of the input is summed over overlapping
    patches by F.fold in the tensor's dtype, after the GEMM's rounding."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 forward_spec=None, grad_input_spec=None, grad_weight_spec=None, dtype=torch.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         bias=bias, dtype=dtype)
        if isinstance(self.padding, str):
            raise ValueError("QConv2d: give padding as integers")
        _set_specs(self, forward_spec, grad_input_spec, grad_weight_spec)

    def forward(self, x):
        return _Conv2dFunction.apply(x, self.weight, self.bias, self)

    def extra_repr(self):
        return f"{super().extra_repr()}, forward={self.forward_spec}"
