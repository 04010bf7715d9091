#include "sim/nn/conv_layer.hpp"

#include "sim/conv2d.hpp"
#include "sim/nn/im2col.hpp"
#include "sim/task_split.hpp"

#include <algorithm>
#include <cstring>

namespace bitsim::sim::nn {

namespace {

Conv2dParams conv_params(const ConvSpec& s) {
  Conv2dParams p;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  return p;
}


}  // namespace

ConvLayer::ConvLayer(const ConvSpec& spec) : spec_(spec) {
  if (spec.in_channels < 1 || spec.out_channels < 1 || spec.kernel_h < 1 || spec.kernel_w < 1 || spec.stride < 1 ||
      spec.pad < 0)
    throw KernelShapeError("conv: channels, kernel and stride must be >= 1 and pad >= 0");
  weight_.name = "weight";
  weight_.value = FTensor(Nchw{spec.out_channels, spec.in_channels, spec.kernel_h, spec.kernel_w});
  if (spec.bias) {
    bias_.name = "bias";
    bias_.value = FTensor(Nchw{1, spec.out_channels, 1, 1});
  }
}

std::vector<Param*> ConvLayer::params() {
  if (spec_.bias) return {&weight_, &bias_};
  return {&weight_};
}

Nchw ConvLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& x = in[0];
  if (x.c != spec_.in_channels)
    throw KernelShapeError(name + ": input has " + std::to_string(x.c) + " channels, the layer expects " +
                           std::to_string(spec_.in_channels));
  Nchw probe = x;
  probe.n = 1;
  Nchw y = conv2d_output_shape(probe, weight_.value.shape, conv_params(spec_));
  y.n = x.n;
  const_cast<ConvLayer*>(this)->macs_ =
      static_cast<double>(y.c * y.h * y.w) * static_cast<double>(spec_.in_channels * spec_.kernel_h * spec_.kernel_w);
  return y;
}

void ConvLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  input_ = &x;
  Nchw ys = output_shape(std::span<const Nchw>(&x.shape, 1));
  if (gemm.is_fast()) {
    out.reshape(ys);
    forward_fast(ctx, x, out);
  } else {
    const std::vector<double> b = spec_.bias ? std::vector<double>(bias_.used().data.begin(), bias_.used().data.end())
                                             : std::vector<double>{};
    assign_from(conv2d_forward(gemm.config(), to_nchw_array(x), to_nchw_array(weight_.used()), conv_params(spec_), ctx.threads, b),
                out);
  }
  round(ctx, Role::A, out);
}

void ConvLayer::forward_fast(const StepContext& ctx, const FTensor& x, FTensor& y) {
  const std::int64_t C = x.shape.c, H = x.shape.h, W = x.shape.w, KH = spec_.kernel_h, KW = spec_.kernel_w;
  const std::int64_t OH = y.shape.h, OW = y.shape.w, P = OH * OW, K = C * KH * KW;
  const float* w = weight_.used().ptr();
  const float* bias = spec_.bias ? bias_.used().ptr() : nullptr;
  detail::run_blocks(x.shape.n, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    std::vector<float> rows(static_cast<std::size_t>(K * P));
    Panels col;
    for (std::int64_t n = n0; n < n1; ++n) {
      // B[k][pos], k = (ci, kh, kw), pos = (oh, ow): conv2d.hpp's forward order of k.
      im2col_rows(x.ptr() + n * C * H * W, H, W, KH, KW, OH, OW, spec_.stride, spec_.pad, 0, K, rows.data());
      pack_panels(rows.data(), P, K, P, col);
      float* yn = y.ptr() + n * spec_.out_channels * P;
      gemm_panels(w, K, spec_.out_channels, col, yn, P, false);
      if (bias)
        for (std::int64_t co = 0; co < spec_.out_channels; ++co)
          for (std::int64_t q = 0; q < P; ++q) yn[co * P + q] += bias[co];
    }
  });
}

void ConvLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const FTensor& x = *input_;
  if (gemm.is_fast()) {
    backward_weight_fast(ctx, x, dy);
    if (dx[0]) backward_input_fast(ctx, dy, *dx[0]);
  } else {
    const GemmConfig cfg = gemm.config();
    const NchwArray dyd = to_nchw_array(dy);
    assign_from(conv2d_backward_weight(cfg, to_nchw_array(x), dyd, weight_.value.shape, conv_params(spec_), ctx.threads),
                weight_.grad);
    if (spec_.bias) {
      const std::vector<double> db = conv2d_backward_bias(cfg, dyd, ctx.threads);
      bias_.grad.reshape(bias_.value.shape);
      for (std::size_t i = 0; i < db.size(); ++i) bias_.grad.data[i] = static_cast<float>(db[i]);
    }
    if (dx[0])
      assign_from(conv2d_backward_input(cfg, dyd, to_nchw_array(weight_.used()), x.shape, conv_params(spec_), ctx.threads),
                  *dx[0]);
  }
  round(ctx, Role::G, weight_.grad, 0);
  if (spec_.bias) round(ctx, Role::G, bias_.grad, 1);
  if (dx[0]) round(ctx, Role::E, *dx[0]);
}

void ConvLayer::backward_input_fast(const StepContext& ctx, const FTensor& dy, FTensor& dx) {
  const Nchw xs = input_->shape;
  dx.reshape(xs);
  const std::int64_t C = xs.c, H = xs.h, W = xs.w, KH = spec_.kernel_h, KW = spec_.kernel_w, CO = spec_.out_channels;
  const std::int64_t OH = dy.shape.h, OW = dy.shape.w;
  const std::int64_t K = CO * KH * KW, P = H * W;
  // A' [ci][k'], k' = (co, kh', kw'), holds w[co][ci][KH-1-kh'][KW-1-kw'].
  flipped_.resize(static_cast<std::size_t>(C * K));
  const float* w = weight_.used().ptr();
  for (std::int64_t ci = 0; ci < C; ++ci)
    for (std::int64_t co = 0; co < CO; ++co)
      for (std::int64_t a = 0; a < KH; ++a)
        for (std::int64_t b = 0; b < KW; ++b)
          flipped_[static_cast<std::size_t>(ci * K + (co * KH + a) * KW + b)] =
              w[((co * C + ci) * KH + (KH - 1 - a)) * KW + (KW - 1 - b)];
  detail::run_blocks(xs.n, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    std::vector<float> rows(static_cast<std::size_t>(K * P));
    Panels col;
    for (std::int64_t n = n0; n < n1; ++n) {
      im2col_transposed_rows(dy.ptr() + n * CO * OH * OW, CO, OH, OW, KH, KW, H, W, spec_.stride, spec_.pad, rows.data());
      pack_panels(rows.data(), P, K, P, col);
      gemm_panels(flipped_.data(), K, C, col, dx.ptr() + n * C * P, P, false);
    }
  });
}

void ConvLayer::backward_weight_fast(const StepContext& ctx, const FTensor& x, const FTensor& dy) {
  const std::int64_t N = x.shape.n, C = x.shape.c, H = x.shape.h, W = x.shape.w, KH = spec_.kernel_h,
                     KW = spec_.kernel_w, CO = spec_.out_channels;
  const std::int64_t OH = dy.shape.h, OW = dy.shape.w, P = OH * OW, K = C * KH * KW;
  weight_.grad.reshape(weight_.value.shape);
  // dW^T [k][co] = chain over (n, oh, ow) of col_n[k][pos] * dy_n[co][pos]: A = im2col rows (K x P), B =
  // dy_n^T (P x CO). Each element's chain runs through the images in order n = 0..N-1 (accumulating
  // into C) and the positions within each, as conv2d.hpp specifies; rows k are split over threads.
  transposed_grad_.resize(static_cast<std::size_t>(K * CO));
  const std::int64_t blocks = (K + 7) / 8;
  detail::run_blocks(blocks, ctx.threads, [&](std::int64_t b0, std::int64_t b1) {
    const std::int64_t k0 = b0 * 8, k1 = std::min(K, b1 * 8);
    std::vector<float> rows(static_cast<std::size_t>((k1 - k0) * P));
    Panels dyt;
    for (std::int64_t n = 0; n < N; ++n) {
      im2col_rows(x.ptr() + n * C * H * W, H, W, KH, KW, OH, OW, spec_.stride, spec_.pad, k0, k1, rows.data());
      pack_panels_transposed(dy.ptr() + n * CO * P, P, P, CO, dyt);
      gemm_panels(rows.data(), P, k1 - k0, dyt, transposed_grad_.data() + k0 * CO, CO, n > 0);
    }
  });
  for (std::int64_t co = 0; co < CO; ++co)
    for (std::int64_t k = 0; k < K; ++k)
      weight_.grad.data[static_cast<std::size_t>(co * K + k)] = transposed_grad_[static_cast<std::size_t>(k * CO + co)];
  if (spec_.bias) {
    // db[co]: the chain over (n, oh, ow) of dy * 1 in fp32 (a float addition is that fused step).
    bias_.grad.reshape(bias_.value.shape);
    for (std::int64_t co = 0; co < CO; ++co) {
      float acc = 0.0f;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* d = dy.ptr() + (n * CO + co) * P;
        for (std::int64_t q = 0; q < P; ++q) acc += d[q];
      }
      bias_.grad.data[static_cast<std::size_t>(co)] = acc;
    }
  }
}

}  // namespace bitsim::sim::nn
