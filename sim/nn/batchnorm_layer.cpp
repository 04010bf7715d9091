#include "sim/nn/batchnorm_layer.hpp"

#include "sim/nn/layer_registry.hpp"

#include "formats/rounding.hpp"
#include "sim/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

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
  // sum of p * float(q - m): the forward's operand x - mu (fp32 subtraction), times dy, in double.
  void add_prod_dev(const float* p, const float* q, float m, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(p[i + l]) * static_cast<float>(q[i + l] - m);
    for (int l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(p[i]) * static_cast<float>(q[i] - m);
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
  if (range_) {
    if (ctx.training) {
      range_statistics(x, mean, ctx.threads, ctx.update_running);
    } else {
      for (std::int64_t c = 0; c < C; ++c) {
        mean[static_cast<std::size_t>(c)] = running_mean_.data[static_cast<std::size_t>(c)];
        scale_[static_cast<std::size_t>(c)] = running_var_.data[static_cast<std::size_t>(c)];
      }
    }
    for (std::int64_t c = 0; c < C; ++c) {
      mu_.data[static_cast<std::size_t>(c)] = static_cast<float>(mean[static_cast<std::size_t>(c)]);
      r_.data[static_cast<std::size_t>(c)] = static_cast<float>(scale_[static_cast<std::size_t>(c)]);
    }
  } else if (ctx.training) {
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
    for (std::int64_t c = 0; c < C && ctx.update_running; ++c) {
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
  if (wageubn_) {
    // r holds sigma = sqrt(var), rounded by BN_SCALE, then eps is added (the reference's order).
    mean_.assign(mean.begin(), mean.end());
    sigma_.resize(static_cast<std::size_t>(C));
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      sigma_[i] = std::sqrt(var[i]);
      mu_.data[i] = static_cast<float>(mean[i]);
      r_.data[i] = static_cast<float>(sigma_[i]);
    }
  } else if (!range_) {
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      mu_.data[i] = static_cast<float>(mean[i]);
      r_.data[i] = static_cast<float>(1.0 / std::sqrt(var[i] + spec_.eps));
    }
  }
  round(ctx, Role::BN_MEAN, mu_, 0);
  round(ctx, Role::BN_SCALE, r_, 1);
  if (wageubn_)
    for (float& r : r_.data) r = r + wageubn_eps_;
  input_ = &x;

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
        if (wageubn_)
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
  const std::int64_t N = dy.shape.n, C = spec_.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  if (codes_valid_) load_codes(ctx.threads);  // x_hat from what was stored, not from forward's scratch
  gamma_.grad.reshape(gamma_.value.shape);
  beta_.grad.reshape(beta_.value.shape);
  std::vector<double> sum_dy(static_cast<std::size_t>(C)), sum_dy_xhat(static_cast<std::size_t>(C)),
      sum_dy_dev(wageubn_ ? static_cast<std::size_t>(C) : 0);
  detail::run_blocks(C, ctx.threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Sum8 s1, s2, s3;
      for (std::int64_t n = 0; n < N; ++n) {
        const std::int64_t off = (n * C + c) * HW;
        s1.add(dy.ptr() + off, HW);
        s2.add_prod(dy.ptr() + off, x_hat_.ptr() + off, HW);
        if (wageubn_) s3.add_prod_dev(dy.ptr() + off, input_->ptr() + off, mu_.data[static_cast<std::size_t>(c)], HW);
      }
      sum_dy[static_cast<std::size_t>(c)] = s1.total();
      sum_dy_xhat[static_cast<std::size_t>(c)] = s2.total();
      if (wageubn_) sum_dy_dev[static_cast<std::size_t>(c)] = s3.total();
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
  // Standard BN: dx = r (g dy - g sum_dy / M - x_hat g sum_dy_xhat / M). Range BN has no x_hat term (its
  // scale does not come from the variance); the range's share is added at the chunk extremes after.
  const float* g = gamma_.used().ptr();
  const double inv_m = 1.0 / static_cast<double>(M);
  if (wageubn_) {
    wageubn_backward(ctx, dy, sum_dy, sum_dy_dev, out);
    round(ctx, Role::E, out);
    return;
  }
  const bool xhat_term = !range_;
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double gc = g[c], r = r_.data[ci];
        const double a = gc * sum_dy[ci] * inv_m, b = gc * sum_dy_xhat[ci] * inv_m;
        const std::int64_t off = (n * C + c) * HW;
        for (std::int64_t i = 0; i < HW; ++i) {
          const auto e = static_cast<std::size_t>(off + i);
          const double t = gc * dy.data[e] - a;
          out.data[e] = static_cast<float>(r * (xhat_term ? t - x_hat_.data[e] * b : t));
        }
      }
  });
  if (range_) add_range_shares(dy.shape, sum_dy_xhat, out);
  round(ctx, Role::E, out);
}

}  // namespace bitsim::sim::nn

namespace bitsim::sim::nn {

double range_bn_constant(std::int64_t n) {
  // 0.5 * 0.35 * (1 + sqrt(pi * ln 4)): the reference code's bound on the expected range of n Gaussian
  // samples, over sqrt(2 ln n) (Banner et al. 2018, section 4).
  return 0.540208362487903 / std::sqrt(2.0 * std::log(static_cast<double>(n)));
}

void BatchNormLayer::wageubn_backward(const StepContext& ctx, const FTensor& dy, const std::vector<double>& sum_dy,
                                      const std::vector<double>& sum_dy_dev, FTensor& out) const {
  // x_hat = (x - mu_q) / s with s = round(sigma) + eps, mu_q and s straight through to mean and sigma:
  //   dx = g dy / s - g sum_dy / (M s) + dvar 2 (x - mean) / M,
  //   dvar = dsigma / (2 sigma), dsigma = -g sum(dy (x - mu_q)) / s^2
  // (the mean's gradient through the variance, -2 mean(x - mean) dvar, is zero). A channel with
  // sigma = 0 is constant, so x - mean = 0 and the variance term is taken as 0.
  const std::int64_t N = dy.shape.n, C = spec_.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  const float* g = gamma_.used().ptr();
  const double inv_m = 1.0 / static_cast<double>(M);
  detail::run_blocks(N, ctx.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double gc = g[c], s = r_.data[ci], mean = mean_[ci], sigma = sigma_[ci];
        const double a = gc * sum_dy[ci] * inv_m / s;
        const double dsigma = -gc * sum_dy_dev[ci] / (s * s);
        const double var_term = sigma > 0 ? dsigma / sigma * inv_m : 0.0;  // dvar 2 / M
        const std::int64_t off = (n * C + c) * HW;
        const float* xp = input_->ptr() + off;
        for (std::int64_t i = 0; i < HW; ++i) {
          const auto e = static_cast<std::size_t>(off + i);
          out.data[e] = static_cast<float>(gc * dy.data[e] / s - a + var_term * (xp[i] - mean));
        }
      }
  });
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
      std::copy(h, h + len, v);
      if (!zero_has_code_)
        for (std::int64_t i = 0; i < len; ++i)
          if (h[i] == 0.0f) {  // kept aside; any value with a code stands in for it
            zeros[static_cast<std::size_t>(b)].push_back((first + i) * 2 + (std::signbit(h[i]) ? 1 : 0));
            v[i] = 1.0f;
          }
      code_q_->encode(std::span<const float>(v, static_cast<std::size_t>(len)), std::span<std::uint64_t>(c, static_cast<std::size_t>(len)));
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
  if (wageubn_ && input_) s.input_bytes = input_->numel() * static_cast<std::int64_t>(sizeof(float));
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

void BatchNormLayer::set_wageubn(bool on, double eps) {
  if (on && !(eps >= 0)) throw KernelShapeError(name + ": WAGEUBN BN eps must be >= 0");
  if (on && range_) throw KernelShapeError(name + ": batch norm cannot be Range BN and WAGEUBN BN at once");
  wageubn_ = on;
  wageubn_eps_ = static_cast<float>(eps);
}

void BatchNormLayer::reset_buffers() {
  std::fill(running_mean_.data.begin(), running_mean_.data.end(), 0.0f);
  std::fill(running_var_.data.begin(), running_var_.data.end(), range_ ? 0.0f : 1.0f);
}

void BatchNormLayer::set_range(bool on, std::int64_t chunks, double new_weight) {
  if (on && chunks < 1) throw KernelShapeError(name + ": Range BN needs at least 1 chunk");
  if (on && !(new_weight >= 0 && new_weight <= 1)) throw KernelShapeError(name + ": Range BN new_weight must be in [0, 1]");
  range_ = on;
  chunks_ = chunks;
  range_new_weight_ = new_weight;
  scale_.assign(static_cast<std::size_t>(spec_.channels), 0.0);
  reset_buffers();
}

void BatchNormLayer::range_statistics(const FTensor& x, std::vector<double>& mean, int threads, bool update_running) {
  const std::int64_t N = x.shape.n, C = spec_.channels, HW = x.shape.h * x.shape.w, M = N * HW, K = chunks_;
  if (M % K != 0 || M / K < 2)
    throw KernelShapeError(fmt::format("{}: Range BN splits the {} values per channel (batch {} x {}x{}) into {} chunks: "
                                       "they must divide evenly with at least 2 values per chunk",
                                       name, M, N, x.shape.h, x.shape.w, K));
  const std::int64_t L = M / K;
  const double cn = range_bn_constant(L);
  arg_max_.resize(static_cast<std::size_t>(C * K));
  arg_min_.resize(static_cast<std::size_t>(C * K));
  std::vector<double> span_sum(static_cast<std::size_t>(C));
  detail::run_blocks(C, threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Sum8 s;
      for (std::int64_t n = 0; n < N; ++n) s.add(x.ptr() + (n * C + c) * HW, HW);
      mean[static_cast<std::size_t>(c)] = s.total() / static_cast<double>(M);
      double sum_max = 0, sum_min = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        // Chunk k holds channel positions [k L, (k+1) L); position e is element (e / HW, e % HW).
        float hi = -std::numeric_limits<float>::infinity(), lo = std::numeric_limits<float>::infinity();
        std::int64_t ihi = -1, ilo = -1;
        for (std::int64_t e = k * L; e < (k + 1) * L;) {
          const std::int64_t n = e / HW, i0 = e % HW, len = std::min(HW - i0, (k + 1) * L - e);
          const float* p = x.ptr() + (n * C + c) * HW + i0;
          for (std::int64_t i = 0; i < len; ++i) {
            if (p[i] > hi) {  // strict: the first maximum wins
              hi = p[i];
              ihi = e + i;
            }
            if (p[i] < lo) {
              lo = p[i];
              ilo = e + i;
            }
          }
          e += len;
        }
        if (ihi < 0 || ilo < 0)
          throw formats::QuantizeError(fmt::format("{}: Range BN input of channel {} is NaN in chunk {}", name, c, k));
        arg_max_[static_cast<std::size_t>(c * K + k)] = ihi;
        arg_min_[static_cast<std::size_t>(c * K + k)] = ilo;
        sum_max += hi;
        sum_min += lo;
      }
      span_sum[static_cast<std::size_t>(c)] = (sum_max - sum_min) / static_cast<double>(K);
    }
  });
  const double w = range_new_weight_;
  for (std::int64_t c = 0; c < C; ++c) {
    const auto i = static_cast<std::size_t>(c);
    scale_[i] = 1.0 / (span_sum[i] * cn + spec_.eps);
    if (!update_running) continue;
    running_mean_.data[i] = static_cast<float>((1 - w) * running_mean_.data[i] + w * mean[i]);
    running_var_.data[i] = static_cast<float>((1 - w) * running_var_.data[i] + w * scale_[i]);
  }
}

void BatchNormLayer::add_range_shares(const Nchw& shape, const std::vector<double>& sum_dy_xhat, FTensor& out) const {
  const std::int64_t C = spec_.channels, HW = shape.h * shape.w, M = shape.n * HW, K = chunks_;
  const double cn = range_bn_constant(M / K);
  const float* g = gamma_.used().ptr();
  // The range's share, added at the chunks' extremes (channels in order, then chunks in order: an
  // element that is the extreme of its chunk gets one addition in float).
  for (std::int64_t c = 0; c < C; ++c) {
    const auto ci = static_cast<std::size_t>(c);
    const double r = r_.data[ci];
    if (r == 0) continue;  // no scale, no gradient through it
    const double dscale = static_cast<double>(g[c]) * sum_dy_xhat[ci] / r;
    const double share = -dscale * cn * scale_[ci] * scale_[ci] / static_cast<double>(K);
    for (std::int64_t k = 0; k < K; ++k) {
      const std::int64_t emax = arg_max_[static_cast<std::size_t>(c * K + k)], emin = arg_min_[static_cast<std::size_t>(c * K + k)];
      float& dmax = out.data[static_cast<std::size_t>(((emax / HW) * C + c) * HW + emax % HW)];
      float& dmin = out.data[static_cast<std::size_t>(((emin / HW) * C + c) * HW + emin % HW)];
      if (emax == emin) continue;  // a constant chunk: +share and -share cancel
      dmax = static_cast<float>(dmax + share);
      dmin = static_cast<float>(dmin - share);
    }
  }
}

std::string BatchNormLayer::summary_notes() const {
  std::string s;
  if (range_) s += "range-BN ";
  if (wageubn_) s += "wageubn-BN ";
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
