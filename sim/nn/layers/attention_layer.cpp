#include "sim/nn/layers/attention_layer.hpp"

#include "sim/kernels/matmul.hpp"
#include "sim/nn/layer_registry.hpp"
#include "sim/runtime/task_split.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace bitsim::sim::nn {

namespace {
// The dimensions of one forward pass.
struct Dims {
  std::int64_t N, D, d, T, heads;
  std::int64_t units() const { return N * heads; }  // (sample, head) pairs, unit u = n * heads + h
  std::int64_t n_of(std::int64_t u) const { return u / heads; }
  std::int64_t h_of(std::int64_t u) const { return u % heads; }
  // s = float(1 / sqrt(d)), the scores' factor (forward and backward).
  float scale() const { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))); }
};

Dims dims_of(const Nchw& in, std::int64_t heads) { return Dims{in.n, in.c / 3, in.c / 3 / heads, in.h * in.w, heads}; }

// Copies [T, d] matrix rows of a channel-major plane block: m[t][j] = x[c0 + j][t].
void gather(const float* x, std::int64_t c0, const Dims& k, float* m) {
  for (std::int64_t j = 0; j < k.d; ++j)
    for (std::int64_t t = 0; t < k.T; ++t) m[t * k.d + j] = x[(c0 + j) * k.T + t];
}
void scatter(const float* m, std::int64_t c0, const Dims& k, float* x) {
  for (std::int64_t j = 0; j < k.d; ++j)
    for (std::int64_t t = 0; t < k.T; ++t) x[(c0 + j) * k.T + t] = m[t * k.d + j];
}
void transpose(const float* a, std::int64_t rows, std::int64_t cols, float* at) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) at[c * rows + r] = a[r * cols + c];
}
}  // namespace

AttentionLayer::AttentionLayer(std::int64_t heads) : heads_(heads) {
  if (heads < 1) throw KernelShapeError("attention: heads must be >= 1");
}

Nchw AttentionLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& x = in[0];
  if (x.c % 3 != 0 || (x.c / 3) % heads_ != 0 || x.c == 0)
    throw KernelShapeError(name + ": input " + x.to_string() + " must have 3 D channels (q, k, v) with D a multiple of heads = " +
                           std::to_string(heads_));
  macs_ = 2.0 * static_cast<double>(x.h * x.w) * static_cast<double>(x.h * x.w) * static_cast<double>(x.c / 3);
  return Nchw{x.n, x.c / 3, x.h, x.w};
}

void AttentionLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  out.reshape(output_shape(std::span<const Nchw>(&x.shape, 1)));
  in_shape_ = x.shape;
  const Dims k = dims_of(x.shape, heads_);
  const std::int64_t mat = k.T * k.d, sq = k.T * k.T;
  qkv_.reshape(Nchw{k.units(), 3, k.T, k.d});
  s_.reshape(Nchw{k.units() * k.T, k.T, 1, 1});
  p_.reshape(s_.shape);
  const float scale = k.scale();
  const float* xp = x.ptr();
  // Scores.
  detail::run_blocks(k.units(), ctx.threads, [&](std::int64_t u0, std::int64_t u1) {
    for (std::int64_t u = u0; u < u1; ++u) {
      const float* xs = xp + k.n_of(u) * 3 * k.D * k.T;
      float* q = qkv_.ptr() + u * 3 * mat;
      for (int part = 0; part < 3; ++part) gather(xs, part * k.D + k.h_of(u) * k.d, k, q + part * mat);
      float* s = s_.ptr() + u * sq;
      matmul(gemm, q, q + mat, s, k.T, k.d, k.T, 1, true);  // Q K^T: K is B^T
      for (std::int64_t i = 0; i < sq; ++i) s[i] = s[i] * scale;
    }
  });
  round(ctx, Role::ATT_S, s_);
  // Softmax over keys.
  detail::run_blocks(k.units(), ctx.threads, [&](std::int64_t u0, std::int64_t u1) {
    const std::vector<float> ones(static_cast<std::size_t>(k.T), 1.0f);
    std::vector<float> z(static_cast<std::size_t>(k.T));
    for (std::int64_t u = u0; u < u1; ++u) {
      const float* s = s_.ptr() + u * sq;
      float* e = p_.ptr() + u * sq;
      for (std::int64_t t = 0; t < k.T; ++t) {
        float m = -std::numeric_limits<float>::infinity();
        for (std::int64_t v = 0; v < k.T; ++v) m = s[t * k.T + v] > m || s[t * k.T + v] != s[t * k.T + v] ? s[t * k.T + v] : m;
        for (std::int64_t v = 0; v < k.T; ++v) e[t * k.T + v] = static_cast<float>(std::exp(static_cast<double>(s[t * k.T + v] - m)));
      }
      matmul(gemm, e, ones.data(), z.data(), k.T, k.T, 1, 1);
      for (std::int64_t t = 0; t < k.T; ++t)
        for (std::int64_t v = 0; v < k.T; ++v) e[t * k.T + v] = e[t * k.T + v] / z[static_cast<std::size_t>(t)];
    }
  });
  round(ctx, Role::ATT_P, p_);
  // P V.
  detail::run_blocks(k.units(), ctx.threads, [&](std::int64_t u0, std::int64_t u1) {
    std::vector<float> o(static_cast<std::size_t>(mat));
    for (std::int64_t u = u0; u < u1; ++u) {
      const float* v = qkv_.ptr() + u * 3 * mat + 2 * mat;
      matmul(gemm, p_.ptr() + u * sq, v, o.data(), k.T, k.T, k.d, 1);
      scatter(o.data(), k.h_of(u) * k.d, k, out.ptr() + k.n_of(u) * k.D * k.T);
    }
  });
  round(ctx, Role::A, out);
}

void AttentionLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  const Dims k = dims_of(in_shape_, heads_);
  const std::int64_t mat = k.T * k.d, sq = k.T * k.T;
  const float scale = k.scale();
  dx[0]->reshape(in_shape_);
  detail::run_blocks(k.units(), ctx.threads, [&](std::int64_t u0, std::int64_t u1) {
    std::vector<float> d_o(static_cast<std::size_t>(mat)), grad(static_cast<std::size_t>(mat));
    std::vector<float> pt(static_cast<std::size_t>(sq)), dp(static_cast<std::size_t>(sq)), ds(static_cast<std::size_t>(sq));
    for (std::int64_t u = u0; u < u1; ++u) {
      const std::int64_t h = k.h_of(u);
      const float* q = qkv_.ptr() + u * 3 * mat;
      const float* kk = q + mat;
      const float* v = q + 2 * mat;
      const float* p = p_.ptr() + u * sq;
      float* dxs = dx[0]->ptr() + k.n_of(u) * 3 * k.D * k.T;
      gather(dy.ptr() + k.n_of(u) * k.D * k.T, h * k.d, k, d_o.data());
      // dV = P^T dO
      transpose(p, k.T, k.T, pt.data());
      matmul(gemm, pt.data(), d_o.data(), grad.data(), k.T, k.T, k.d, 1);
      scatter(grad.data(), 2 * k.D + h * k.d, k, dxs);
      // dP = dO V^T: V is B^T
      matmul(gemm, d_o.data(), v, dp.data(), k.T, k.d, k.T, 1, true);
      for (std::int64_t t = 0; t < k.T; ++t) {
        double r = 0;
        for (std::int64_t w = 0; w < k.T; ++w) r += static_cast<double>(p[t * k.T + w]) * dp[static_cast<std::size_t>(t * k.T + w)];
        for (std::int64_t w = 0; w < k.T; ++w) {
          const std::size_t i = static_cast<std::size_t>(t * k.T + w);
          ds[i] = static_cast<float>(static_cast<double>(p[i]) * (dp[i] - r) * scale);
        }
      }
      // dQ = dS~ K
      matmul(gemm, ds.data(), kk, grad.data(), k.T, k.T, k.d, 1);
      scatter(grad.data(), h * k.d, k, dxs);
      // dK = dS~^T Q
      transpose(ds.data(), k.T, k.T, pt.data());
      matmul(gemm, pt.data(), q, grad.data(), k.T, k.T, k.d, 1);
      scatter(grad.data(), k.D + h * k.d, k, dxs);
    }
  });
  round(ctx, Role::E, *dx[0]);
}

std::unique_ptr<Layer> make_attention_layer(const LayerBuild& b) { return std::make_unique<AttentionLayer>(b.spec.heads.value_or(1)); }

}  // namespace bitsim::sim::nn
