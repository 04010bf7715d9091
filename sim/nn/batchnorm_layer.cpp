#include "sim/nn/batchnorm_layer.hpp"

#include "sim/task_split.hpp"

#include <cmath>

namespace bitsim::sim::nn {

namespace {

// Eight interleaved double partial sums: element i of a plane goes into partial i mod 8 (the tail
// of a plane into partials 0..r-1). A fixed order, written so that the compiler vectorizes it.
struct Sum8 {
  double lane[8] = {};
  void add(const float* p, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += p[i + l];
    for (int l = 0; i < n; ++i, ++l) lane[l] += p[i];
  }
  void add_sq_dev(const float* p, std::int64_t n, double m) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) {
        const double d = p[i + l] - m;
        lane[l] += d * d;
      }
    for (int l = 0; i < n; ++i, ++l) {
      const double d = p[i] - m;
      lane[l] += d * d;
    }
  }
  void add_prod(const float* p, const float* q, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(p[i + l]) * q[i + l];
    for (int l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(p[i]) * q[i];
  }
  double total() const { return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])); }
};

}  // namespace

BatchNormLayer::BatchNormLayer(const BatchNormSpec& spec) : spec_(spec) {
  if (spec.channels < 1) throw KernelShapeError("batchnorm: channels must be >= 1");
  if (!(spec.eps > 0)) throw KernelShapeError("batchnorm: eps must be > 0");
  if (!(spec.momentum >= 0 && spec.momentum <= 1)) throw KernelShapeError("batchnorm: momentum must be in [0, 1]");
  const Nchw cs{1, spec.channels, 1, 1};
  gamma_.name = "gamma";
  gamma_.value = FTensor(cs);
  beta_.name = "beta";
  beta_.value = FTensor(cs);
  std::fill(gamma_.value.data.begin(), gamma_.value.data.end(), 1.0f);
  running_mean_ = FTensor(cs);
  running_var_ = FTensor(cs);
  std::fill(running_var_.data.begin(), running_var_.data.end(), 1.0f);
}

Nchw BatchNormLayer::output_shape(std::span<const Nchw> in) const {
  if (in[0].c != spec_.channels)
    throw KernelShapeError(name + ": input has " + std::to_string(in[0].c) + " channels, the layer expects " +
                           std::to_string(spec_.channels));
  return in[0];
}

void BatchNormLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  const std::int64_t N = x.shape.n, C = spec_.channels, HW = x.shape.h * x.shape.w, M = N * HW;
  if (ctx.training && M < 2) throw KernelShapeError(name + ": batch statistics need at least 2 values per channel");
  mu_.reshape(Nchw{1, C, 1, 1});
  r_.reshape(Nchw{1, C, 1, 1});
  std::vector<double> mean(static_cast<std::size_t>(C)), var(static_cast<std::size_t>(C));
  if (ctx.training) {
    detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        Sum8 s, ss;
        for (std::int64_t n = 0; n < N; ++n) s.add(x.ptr() + (n * C + c) * HW, HW);
        const double m = s.total() / static_cast<double>(M);
        for (std::int64_t n = 0; n < N; ++n) ss.add_sq_dev(x.ptr() + (n * C + c) * HW, HW, m);
        mean[static_cast<std::size_t>(c)] = m;
        var[static_cast<std::size_t>(c)] = ss.total() / static_cast<double>(M);
      }
    });
    const double mom = spec_.momentum, unbias = static_cast<double>(M) / static_cast<double>(M - 1);
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      running_mean_.data[i] = static_cast<float>((1 - mom) * running_mean_.data[i] + mom * mean[i]);
      running_var_.data[i] = static_cast<float>((1 - mom) * running_var_.data[i] + mom * var[i] * unbias);
    }
  } else {
    for (std::int64_t c = 0; c < C; ++c) {
      mean[static_cast<std::size_t>(c)] = running_mean_.data[static_cast<std::size_t>(c)];
      var[static_cast<std::size_t>(c)] = running_var_.data[static_cast<std::size_t>(c)];
    }
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const auto i = static_cast<std::size_t>(c);
    mu_.data[i] = static_cast<float>(mean[i]);
    r_.data[i] = static_cast<float>(1.0 / std::sqrt(var[i] + spec_.eps));
  }
  round(ctx, Role::BN_STAT, mu_, 0);
  round(ctx, Role::BN_STAT, r_, 1);

  x_hat_.reshape(x.shape);
  out.reshape(x.shape);
  const float* g = gamma_.used().ptr();
  const float* b = beta_.used().ptr();
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t off = (n * C + c) * HW;
        const float m = mu_.data[static_cast<std::size_t>(c)], r = r_.data[static_cast<std::size_t>(c)];
        const float* xp = x.ptr() + off;
        float* hp = x_hat_.ptr() + off;
        for (std::int64_t i = 0; i < HW; ++i) hp[i] = (xp[i] - m) * r;
      }
  });
  round(ctx, Role::BN_NORM, x_hat_);
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t off = (n * C + c) * HW;
        const float gc = g[c], bc = b[c];
        const float* hp = x_hat_.ptr() + off;
        float* yp = out.ptr() + off;
        for (std::int64_t i = 0; i < HW; ++i) {
          const float t = gc * hp[i];
          yp[i] = t + bc;
        }
      }
  });
  round(ctx, Role::A, out);
}

void BatchNormLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const std::int64_t N = dy.shape.n, C = spec_.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  gamma_.grad.reshape(gamma_.value.shape);
  beta_.grad.reshape(beta_.value.shape);
  std::vector<double> sum_dy(static_cast<std::size_t>(C)), sum_dy_xhat(static_cast<std::size_t>(C));
  detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Sum8 s1, s2;
      for (std::int64_t n = 0; n < N; ++n) {
        const std::int64_t off = (n * C + c) * HW;
        s1.add(dy.ptr() + off, HW);
        s2.add_prod(dy.ptr() + off, x_hat_.ptr() + off, HW);
      }
      sum_dy[static_cast<std::size_t>(c)] = s1.total();
      sum_dy_xhat[static_cast<std::size_t>(c)] = s2.total();
    }
  });
  for (std::int64_t c = 0; c < C; ++c) {
    beta_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sum_dy[static_cast<std::size_t>(c)]);
    gamma_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sum_dy_xhat[static_cast<std::size_t>(c)]);
  }
  round(ctx, Role::G, gamma_.grad, 0);
  round(ctx, Role::G, beta_.grad, 1);
  if (!dx[0]) return;
  FTensor& out = *dx[0];
  out.reshape(dy.shape);
  const float* g = gamma_.used().ptr();
  const double inv_m = 1.0 / static_cast<double>(M);
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double gc = g[c], r = r_.data[ci];
        const double a = gc * sum_dy[ci] * inv_m, b = gc * sum_dy_xhat[ci] * inv_m;
        const std::int64_t off = (n * C + c) * HW;
        for (std::int64_t i = 0; i < HW; ++i) {
          const auto e = static_cast<std::size_t>(off + i);
          out.data[e] = static_cast<float>(r * (gc * dy.data[e] - a - x_hat_.data[e] * b));
        }
      }
  });
  round(ctx, Role::E, out);
}

}  // namespace bitsim::sim::nn
