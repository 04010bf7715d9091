#include "sim/nn/layers/transformer_layers.hpp"

#include "sim/nn/layer_registry.hpp"
#include "sim/runtime/task_split.hpp"

#include <cmath>
#include <numbers>

namespace bitsim::sim::nn {

// ---- layer norm and RMS norm ---------------------------------------------------------------------
LayerNormLayer::LayerNormLayer(const NormSpec& spec) : spec_(spec) {
  if (spec.channels < 1) throw KernelShapeError("layernorm: channels must be >= 1");
  if (!(spec.eps > 0)) throw KernelShapeError("layernorm: eps must be > 0");
  gamma_.name = "gamma";
  gamma_.value = FTensor(Nchw{1, spec.channels, 1, 1});
  if (!spec.rms) {
    beta_.name = "beta";
    beta_.value = FTensor(Nchw{1, spec.channels, 1, 1});
  }
}

std::vector<Param*> LayerNormLayer::params() {
  if (spec_.rms) return {&gamma_};
  return {&gamma_, &beta_};
}

Nchw LayerNormLayer::output_shape(std::span<const Nchw> in) const {
  if (in[0].c != spec_.channels)
    throw KernelShapeError(name + ": input has " + std::to_string(in[0].c) + " channels (shape " + in[0].to_string() +
                           "), the layer expects " + std::to_string(spec_.channels));
  return in[0];
}

void LayerNormLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  (void)output_shape(std::span<const Nchw>(&x.shape, 1));
  const std::int64_t N = x.shape.n, C = x.shape.c, P = x.shape.h * x.shape.w;
  const Nchw stats{N, 1, x.shape.h, x.shape.w};
  mu_.reshape(stats);
  r_.reshape(stats);
  const float* xp = x.ptr();
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t p = 0; p < P; ++p) {
        const float* xs = xp + n * C * P + p;  // channel c at xs[c * P]
        double mean = 0, second = 0;
        if (!spec_.rms) {
          for (std::int64_t c = 0; c < C; ++c) mean += xs[c * P];
          mean /= static_cast<double>(C);
        }
        for (std::int64_t c = 0; c < C; ++c) {
          const double d = xs[c * P] - mean;
          second += d * d;
        }
        second /= static_cast<double>(C);
        mu_.data[static_cast<std::size_t>(n * P + p)] = static_cast<float>(mean);
        r_.data[static_cast<std::size_t>(n * P + p)] = static_cast<float>(1.0 / std::sqrt(second + spec_.eps));
      }
  });
  if (!spec_.rms) round(ctx, Role::BN_MEAN, mu_);
  round(ctx, Role::BN_SCALE, r_);
  x_hat_.reshape(x.shape);
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t p = 0; p < P; ++p) {
          const std::size_t e = static_cast<std::size_t>((n * C + c) * P + p), s = static_cast<std::size_t>(n * P + p);
          x_hat_.data[e] = spec_.rms ? xp[e] * r_.data[s] : (xp[e] - mu_.data[s]) * r_.data[s];
        }
  });
  round(ctx, Role::BN_NORM, x_hat_);
  out.reshape(x.shape);
  const float* g = gamma_.used().ptr();
  const float* b = spec_.rms ? nullptr : beta_.used().ptr();
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t p = 0; p < P; ++p) {
          const std::size_t e = static_cast<std::size_t>((n * C + c) * P + p);
          const float scaled = g[c] * x_hat_.data[e];
          out.data[e] = b ? scaled + b[c] : scaled;
        }
  });
  round(ctx, Role::A, out);
}

void LayerNormLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const std::int64_t N = dy.shape.n, C = dy.shape.c, P = dy.shape.h * dy.shape.w;
  const float* dp = dy.ptr();
  const float* xh = x_hat_.ptr();
  // Parameter gradients: per channel, over n then positions in increasing order.
  gamma_.grad.reshape(gamma_.value.shape);
  if (!spec_.rms) beta_.grad.reshape(beta_.value.shape);
  detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      double sg = 0, sb = 0;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t p = 0; p < P; ++p) {
          const std::size_t e = static_cast<std::size_t>((n * C + c) * P + p);
          sb += dp[e];
          sg += static_cast<double>(dp[e]) * xh[e];
        }
      gamma_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sg);
      if (!spec_.rms) beta_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sb);
    }
  });
  finish_grad(ctx, gamma_, 0);
  if (!spec_.rms) finish_grad(ctx, beta_, 1);
  if (!dx[0]) return;
  dx[0]->reshape(dy.shape);
  const float* g = gamma_.used().ptr();
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t p = 0; p < P; ++p) {
        double mean_g = 0, mean_gx = 0;
        for (std::int64_t c = 0; c < C; ++c) {
          const std::size_t e = static_cast<std::size_t>((n * C + c) * P + p);
          const double gc = static_cast<double>(g[c]) * dp[e];
          mean_g += gc;
          mean_gx += gc * xh[e];
        }
        mean_g = spec_.rms ? 0.0 : mean_g / static_cast<double>(C);
        mean_gx /= static_cast<double>(C);
        const double r = r_.data[static_cast<std::size_t>(n * P + p)];
        for (std::int64_t c = 0; c < C; ++c) {
          const std::size_t e = static_cast<std::size_t>((n * C + c) * P + p);
          const double gc = static_cast<double>(g[c]) * dp[e];
          dx[0]->data[e] = static_cast<float>(r * (gc - mean_g - xh[e] * mean_gx));
        }
      }
  });
  round(ctx, Role::E, *dx[0]);
}

// ---- GELU ------------------------------------------------------------------------------------------
namespace {
double normal_cdf(double x) { return 0.5 * (1.0 + std::erf(x * (1.0 / std::numbers::sqrt2))); }
double normal_pdf(double x) { return std::exp(-0.5 * x * x) * (0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2); }
}  // namespace

void GeluLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  input_ = &x;
  out.reshape(x.shape);
  // A training step keeps Phi(x) for backward, which then needs only the density (erf costs twice exp).
  const bool keep = ctx.training;
  if (keep) cdf_.resize(x.data.size());
  detail::run_blocks(x.numel(), ctx.threads, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const double v = x.data[static_cast<std::size_t>(i)];
      const double cdf = normal_cdf(v);
      if (keep) cdf_[static_cast<std::size_t>(i)] = cdf;
      out.data[static_cast<std::size_t>(i)] = static_cast<float>(v * cdf);
    }
  });
  round(ctx, Role::A, out);
}

void GeluLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  const FTensor& x = *input_;
  dx[0]->reshape(x.shape);
  detail::run_blocks(x.numel(), ctx.threads, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const double v = x.data[static_cast<std::size_t>(i)];
      dx[0]->data[static_cast<std::size_t>(i)] =
          static_cast<float>(static_cast<double>(dy.data[static_cast<std::size_t>(i)]) * (cdf_[static_cast<std::size_t>(i)] + v * normal_pdf(v)));
    }
  });
  round(ctx, Role::E, *dx[0]);
}

// ---- position embedding ----------------------------------------------------------------------------
PosEmbedLayer::PosEmbedLayer(const Nchw& sample) {
  if (sample.c < 1 || sample.h < 1 || sample.w < 1) throw KernelShapeError("pos_embed: empty input");
  embedding_.name = "embedding";
  embedding_.value = FTensor(Nchw{1, sample.c, sample.h, sample.w});
}

Nchw PosEmbedLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& e = embedding_.value.shape;
  if (in[0].c != e.c || in[0].h != e.h || in[0].w != e.w)
    throw KernelShapeError(name + ": input " + in[0].to_string() + " does not match the embedding " + e.to_string());
  return in[0];
}

void PosEmbedLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  (void)output_shape(std::span<const Nchw>(&x.shape, 1));
  const std::int64_t F = x.features();
  out.reshape(x.shape);
  const float* e = embedding_.used().ptr();
  detail::run_blocks(x.shape.n, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t f = 0; f < F; ++f) out.data[static_cast<std::size_t>(n * F + f)] = x.data[static_cast<std::size_t>(n * F + f)] + e[f];
  });
  round(ctx, Role::A, out);
}

void PosEmbedLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const std::int64_t N = dy.shape.n, F = dy.features();
  embedding_.grad.reshape(embedding_.value.shape);
  detail::run_blocks(F, ctx.threads, [&](std::int64_t f0, std::int64_t f1) {
    for (std::int64_t f = f0; f < f1; ++f) {
      double s = 0;
      for (std::int64_t n = 0; n < N; ++n) s += dy.data[static_cast<std::size_t>(n * F + f)];
      embedding_.grad.data[static_cast<std::size_t>(f)] = static_cast<float>(s);
    }
  });
  finish_grad(ctx, embedding_, 0);
  if (!dx[0]) return;
  *dx[0] = dy;
  round(ctx, Role::E, *dx[0]);
}

// ---- the registry's constructors ------------------------------------------------------------------
namespace {
std::unique_ptr<Layer> make_norm(const LayerBuild& b, bool rms) {
  NormSpec s;
  s.channels = b.in.c;
  s.eps = b.spec.eps.value_or(1e-5);
  s.rms = rms;
  return std::make_unique<LayerNormLayer>(s);
}
}  // namespace

std::unique_ptr<Layer> make_layernorm_layer(const LayerBuild& b) { return make_norm(b, false); }
std::unique_ptr<Layer> make_rmsnorm_layer(const LayerBuild& b) { return make_norm(b, true); }
std::unique_ptr<Layer> make_gelu_layer(const LayerBuild&) { return std::make_unique<GeluLayer>(); }
std::unique_ptr<Layer> make_pos_embed_layer(const LayerBuild& b) {
  check_parameter_count(b.name, "embedding", {b.in.c, b.in.h, b.in.w});
  return std::make_unique<PosEmbedLayer>(b.in);
}

}  // namespace bitsim::sim::nn
