#include "sim/methods/wageubn2019/wageubn_batchnorm.hpp"

#include "sim/kernels/nchw.hpp"
#include "sim/runtime/task_split.hpp"

#include <cmath>

namespace bitsim::sim::methods {

using nn::BatchNormBackward;
using nn::BatchNormData;
using nn::FTensor;

WageubnBatchNorm::WageubnBatchNorm(double eps) : eps_(static_cast<float>(eps)) {
  if (!(eps >= 0)) throw KernelShapeError("WAGEUBN BN eps must be >= 0");
}

void WageubnBatchNorm::statistics(BatchNormData& d, const FTensor& x, bool training, bool update_running, int threads,
                                  std::span<float> mu, std::span<float> r) {
  const std::int64_t C = d.spec.channels;
  std::vector<double> var;
  if (training) {
    nn::batch_mean_variance(x, C, threads, mean_, var);
    if (update_running) nn::update_running_mean_variance(d, mean_, var, x.shape.n * x.shape.h * x.shape.w);
  } else {
    mean_.assign(d.running_mean.data.begin(), d.running_mean.data.end());
    var.assign(d.running_second.data.begin(), d.running_second.data.end());
  }
  // r holds sigma = sqrt(var), rounded by BN_SCALE; eps is added after (the reference's order).
  sigma_.resize(static_cast<std::size_t>(C));
  for (std::size_t i = 0; i < static_cast<std::size_t>(C); ++i) {
    sigma_[i] = std::sqrt(var[i]);
    mu[i] = static_cast<float>(mean_[i]);
    r[i] = static_cast<float>(sigma_[i]);
  }
}

void WageubnBatchNorm::after_scale_rounding(std::span<float> r) const {
  for (float& s : r) s = s + eps_;
}

void WageubnBatchNorm::input_gradient(const BatchNormData& d, const BatchNormBackward& b, FTensor& dx) const {
  // x_hat = (x - mu_q) / s with s = round(sigma) + eps, mu_q and s straight through to mean and sigma:
  //   dx = g dy / s - g sum_dy / (M s) + dvar 2 (x - mean) / M,
  //   dvar = dsigma / (2 sigma), dsigma = -g sum(dy (x - mu_q)) / s^2
  // (the mean's gradient through the variance, -2 mean(x - mean) dvar, is zero).
  const FTensor& dy = b.dy;
  const std::int64_t N = dy.shape.n, C = d.spec.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  const double inv_m = 1.0 / static_cast<double>(M);
  detail::run_blocks(N, b.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double gc = b.gamma[ci], s = b.r[ci], mean = mean_[ci], sigma = sigma_[ci];
        const double a = gc * b.sum_dy[ci] * inv_m / s;
        const double dsigma = -gc * b.sum_dy_dev[ci] / (s * s);
        const double var_term = sigma > 0 ? dsigma / sigma * inv_m : 0.0;  // dvar 2 / M
        const std::int64_t off = (n * C + c) * HW;
        const float* xp = b.input->ptr() + off;
        for (std::int64_t i = 0; i < HW; ++i) {
          const auto e = static_cast<std::size_t>(off + i);
          dx.data[e] = static_cast<float>(gc * dy.data[e] / s - a + var_term * (xp[i] - mean));
        }
      }
  });
}

}  // namespace bitsim::sim::methods
