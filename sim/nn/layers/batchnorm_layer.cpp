#include "sim/nn/layers/batchnorm_layer.hpp"

#include "sim/nn/layers/fixed_order_sum.hpp"
#include "sim/nn/layer_registry.hpp"

#include "formats/rounding.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

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
  running_second_ = FTensor(cs);
  set_method(std::make_unique<StandardBatchNorm>());
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
  BatchNormData d = data();
  method_->statistics(d, x, ctx.training, ctx.update_running, ctx.threads, mu_.span(), r_.span());
  round(ctx, Role::BN_MEAN, mu_, 0);
  round(ctx, Role::BN_SCALE, r_, 1);
  method_->after_scale_rounding(r_.span());
  input_ = &x;

  x_hat_.reshape(x.shape);
  out.reshape(x.shape);
  const float* g = gamma_.used().ptr();
  const float* b = beta_.used().ptr();
  const bool divides = method_->divides();
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const std::int64_t off = (n * C + c) * HW;
        const float m = mu_.data[static_cast<std::size_t>(c)], r = r_.data[static_cast<std::size_t>(c)];
        const float* xp = x.ptr() + off;
        float* hp = x_hat_.ptr() + off;
        if (divides)
          for (std::int64_t i = 0; i < HW; ++i) hp[i] = (xp[i] - m) / r;
        else
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
  if (ctx.training) {
    stored_any_ = true;
    codes_valid_ = codes_possible();
    if (codes_valid_) store_codes(ctx.threads);
  }
}

void BatchNormLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  const std::int64_t N = dy.shape.n, C = spec_.channels, HW = dy.shape.h * dy.shape.w;
  if (codes_valid_) load_codes(ctx.threads);  // x_hat from what was stored, not from forward's scratch
  gamma_.grad.reshape(gamma_.value.shape);
  beta_.grad.reshape(beta_.value.shape);
  const bool dev = method_->needs_input();
  std::vector<double> sum_dy(static_cast<std::size_t>(C)), sum_dy_xhat(static_cast<std::size_t>(C)),
      sum_dy_dev(dev ? static_cast<std::size_t>(C) : 0);
  detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Sum8 s1, s2, s3;
      for (std::int64_t n = 0; n < N; ++n) {
        const std::int64_t off = (n * C + c) * HW;
        s1.add(dy.ptr() + off, HW);
        s2.add_prod(dy.ptr() + off, x_hat_.ptr() + off, HW);
        if (dev) s3.add_prod_dev(dy.ptr() + off, input_->ptr() + off, mu_.data[static_cast<std::size_t>(c)], HW);
      }
      sum_dy[static_cast<std::size_t>(c)] = s1.total();
      sum_dy_xhat[static_cast<std::size_t>(c)] = s2.total();
      if (dev) sum_dy_dev[static_cast<std::size_t>(c)] = s3.total();
    }
  });
  for (std::int64_t c = 0; c < C; ++c) {
    beta_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sum_dy[static_cast<std::size_t>(c)]);
    gamma_.grad.data[static_cast<std::size_t>(c)] = static_cast<float>(sum_dy_xhat[static_cast<std::size_t>(c)]);
  }
  finish_grad(ctx, gamma_, 0);
  finish_grad(ctx, beta_, 1);
  if (!dx[0]) return;
  FTensor& out = *dx[0];
  out.reshape(dy.shape);
  const BatchNormBackward pass{dy,     x_hat_,      dev ? input_ : nullptr, gamma_.used().data, mu_.data, r_.data,
                               sum_dy, sum_dy_xhat, sum_dy_dev,             ctx.threads};
  method_->input_gradient(data(), pass, out);
  round(ctx, Role::E, out);
}

// ---- x_hat stored as codes -----------------------------------------------------------------------

namespace {
// Elements per task when packing: a multiple of 8, so that no two tasks share a byte of the stream.
constexpr std::int64_t kPackBlock = 4096;
}  // namespace

bool BatchNormLayer::codes_possible() const {
  const RoleRounding& rr = roles[Role::BN_NORM];
  return store_codes_ && !rr.is_identity() && rr.values_are_codes() && rr.format().width() <= 16;
}

void BatchNormLayer::store_codes(int threads) {
  const formats::Format& f = roles[Role::BN_NORM].format();
  if (!code_q_ || code_q_->format().name() != f.name()) {
    code_q_ = std::make_shared<const formats::Quantizer>(f);
    // Graham's log formats and O4 give +-0 the value +-0 but no code (formats.md).
    const float zero[2] = {0.0f, -0.0f};
    std::uint64_t code[2];
    try {
      code_q_->encode(std::span<const float>(zero, 2), std::span<std::uint64_t>(code, 2));
      zero_has_code_ = true;
    } catch (const formats::QuantizeError&) {
      zero_has_code_ = false;
    }
  }
  const std::int64_t n = x_hat_.numel();
  if (codes_.size() != n || codes_.width() != f.width()) codes_ = sim::PackedCodes(f.width(), n);
  const std::int64_t blocks = (n + kPackBlock - 1) / kPackBlock;
  std::vector<std::vector<std::int64_t>> zeros(static_cast<std::size_t>(blocks));  // per block, in order
  // Re-encoding a value of the format gives its own code: x_hat already holds values of the format
  // (BN_NORM rounded it), and every value lies inside its own rounding cell.
  detail::run_blocks(blocks, threads, [&](std::int64_t b0, std::int64_t b1) {
    float v[kPackBlock];
    std::uint64_t c[kPackBlock];
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t first = b * kPackBlock, len = std::min(kPackBlock, n - first);
      const float* h = x_hat_.ptr() + first;
      const float* values = h;  // encoded in place unless a zero without a code must be replaced
      bool any_zero = false;
      if (!zero_has_code_)
        for (std::int64_t i = 0; i < len; ++i) any_zero |= h[i] == 0.0f;
      if (any_zero) {
        std::copy(h, h + len, v);
        for (std::int64_t i = 0; i < len; ++i)
          if (h[i] == 0.0f) {  // kept aside; any value with a code stands in for it
            zeros[static_cast<std::size_t>(b)].push_back((first + i) * 2 + (std::signbit(h[i]) ? 1 : 0));
            v[i] = 1.0f;
          }
        values = v;
      }
      code_q_->encode(std::span<const float>(values, static_cast<std::size_t>(len)), std::span<std::uint64_t>(c, static_cast<std::size_t>(len)));
      codes_.pack(first, std::span<const std::uint64_t>(c, static_cast<std::size_t>(len)));
    }
  });
  zero_at_.clear();
  for (auto& z : zeros) zero_at_.insert(zero_at_.end(), z.begin(), z.end());
}

void BatchNormLayer::load_codes(int threads) {
  const std::int64_t n = codes_.size();
  x_hat_.data.resize(static_cast<std::size_t>(n));
  const std::int64_t blocks = (n + kPackBlock - 1) / kPackBlock;
  detail::run_blocks(blocks, threads, [&](std::int64_t b0, std::int64_t b1) {
    std::uint64_t c[kPackBlock];
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t first = b * kPackBlock, len = std::min(kPackBlock, n - first);
      codes_.unpack(first, std::span<std::uint64_t>(c, static_cast<std::size_t>(len)));
      code_q_->decode(std::span<const std::uint64_t>(c, static_cast<std::size_t>(len)),
                      std::span<float>(x_hat_.ptr() + first, static_cast<std::size_t>(len)));
    }
  });
  for (const std::int64_t z : zero_at_) x_hat_.data[static_cast<std::size_t>(z / 2)] = (z & 1) ? -0.0f : 0.0f;
}

BatchNormStorage BatchNormLayer::storage() const {
  BatchNormStorage s;
  if (!stored_any_) return s;
  s.values = x_hat_.numel();
  s.stat_bytes = 2 * spec_.channels * static_cast<std::int64_t>(sizeof(float));
  if (method_->needs_input() && input_) s.input_bytes = input_->numel() * static_cast<std::int64_t>(sizeof(float));
  if (codes_valid_) {
    s.values = codes_.size();
    s.bits_per_value = codes_.width();
    s.norm_bytes = static_cast<std::int64_t>(codes_.storage_bytes());
    s.exceptions = static_cast<std::int64_t>(zero_at_.size());
    s.exception_bytes = 8 * s.exceptions;
  } else {
    s.norm_bytes = s.values * static_cast<std::int64_t>(sizeof(float));
  }
  return s;
}

void BatchNormLayer::reset_buffers() {
  std::fill(running_mean_.data.begin(), running_mean_.data.end(), 0.0f);
  std::fill(running_second_.data.begin(), running_second_.data.end(), method_->initial_second());
}

void BatchNormLayer::set_method(std::unique_ptr<BatchNormMethod> method) {
  method_ = std::move(method);
  reset_buffers();
}

std::string BatchNormLayer::summary_notes() const {
  std::string s = method_->summary_note();
  if (stored_norm_bits() < 32) s += fmt::format("N(x)-stored-{}-bit ", stored_norm_bits());
  return s;
}

std::unique_ptr<Layer> make_batchnorm_layer(const LayerBuild& b) {
  BatchNormSpec s;
  s.channels = b.in.c;
  s.eps = b.spec.eps.value_or(1e-5);
  s.momentum = b.spec.momentum.value_or(0.1);
  return std::make_unique<BatchNormLayer>(s);
}

}  // namespace bitsim::sim::nn
