#include "sim/nn/batchnorm_layer.hpp"

#include "sim/task_split.hpp"

#include <cmath>

namespace bitsim::sim::nn {

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
        double s = 0;
        for (std::int64_t n = 0; n < N; ++n) {
          const float* p = x.ptr() + (n * C + c) * HW;
          for (std::int64_t i = 0; i < HW; ++i) s += p[i];
        }
        const double m = s / static_cast<double>(M);
        double ss = 0;
        for (std::int64_t n = 0; n < N; ++n) {
          const float* p = x.ptr() + (n * C + c) * HW;
          for (std::int64_t i = 0; i < HW; ++i) {
            const double d = p[i] - m;
            ss += d * d;
          }
        }
        mean[static_cast<std::size_t>(c)] = m;
        var[static_cast<std::size_t>(c)] = ss / static_cast<double>(M);
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
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      const std::int64_t off = (n * C + c) * HW;
      const float m = mu_.data[static_cast<std::size_t>(c)], r = r_.data[static_cast<std::size_t>(c)];
      for (std::int64_t i = 0; i < HW; ++i) x_hat_.data[static_cast<std::size_t>(off + i)] = (x.data[static_cast<std::size_t>(off + i)] - m) * r;
    }
  round(ctx, Role::BN_NORM, x_hat_);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c) {
      const std::int64_t off = (n * C + c) * HW;
      const float gc = g[c], bc = b[c];
      for (std::int64_t i = 0; i < HW; ++i) {
        const float t = gc * x_hat_.data[static_cast<std::size_t>(off + i)];
        out.data[static_cast<std::size_t>(off + i)] = t + bc;
      }
    }
  round(ctx, Role::A, out);
}

void BatchNormLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const std::int64_t N = dy.shape.n, C = spec_.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  gamma_.grad.reshape(gamma_.value.shape);
  beta_.grad.reshape(beta_.value.shape);
  std::vector<double> sum_dy(static_cast<std::size_t>(C)), sum_dy_xhat(static_cast<std::size_t>(C));
  detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double s1 = 0, s2 = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const std::int64_t off = (n * C + c) * HW;
        for (std::int64_t i = 0; i < HW; ++i) {
          const double d = dy.data[static_cast<std::size_t>(off + i)];
          s1 += d;
          s2 += d * x_hat_.data[static_cast<std::size_t>(off + i)];
        }
      }
      sum_dy[static_cast<std::size_t>(c)] = s1;
      sum_dy_xhat[static_cast<std::size_t>(c)] = s2;
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
