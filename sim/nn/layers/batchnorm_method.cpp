#include "sim/nn/layers/batchnorm_method.hpp"

#include "sim/nn/layers/fixed_order_sum.hpp"
#include "sim/runtime/task_split.hpp"

#include <cmath>

namespace bitsim::sim::nn {

void batch_mean_variance(const FTensor& x, std::int64_t channels, int threads, std::vector<double>& mean,
                         std::vector<double>& var) {
  const std::int64_t N = x.shape.n, C = channels, HW = x.shape.h * x.shape.w, M = N * HW;
  mean.resize(static_cast<std::size_t>(C));
  var.resize(static_cast<std::size_t>(C));
  detail::run_blocks(C, threads, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      Sum8 s, ss;
      for (std::int64_t n = 0; n < N; ++n) s.add(x.ptr() + (n * C + c) * HW, HW);
      const double m = s.total() / static_cast<double>(M);
      for (std::int64_t n = 0; n < N; ++n) ss.add_sq_dev(x.ptr() + (n * C + c) * HW, HW, m);
      mean[static_cast<std::size_t>(c)] = m;
      var[static_cast<std::size_t>(c)] = ss.total() / static_cast<double>(M);
    }
  });
}

void update_running_mean_variance(BatchNormData& d, const std::vector<double>& mean, const std::vector<double>& var,
                                  std::int64_t m) {
  const double mom = d.spec.momentum, unbias = static_cast<double>(m) / static_cast<double>(m - 1);
  for (std::size_t i = 0; i < mean.size(); ++i) {
    d.running_mean.data[i] = static_cast<float>((1 - mom) * d.running_mean.data[i] + mom * mean[i]);
    d.running_second.data[i] = static_cast<float>((1 - mom) * d.running_second.data[i] + mom * var[i] * unbias);
  }
}

void centered_input_gradient(const BatchNormData& d, const BatchNormBackward& b, bool with_xhat_term, FTensor& dx) {
  const FTensor& dy = b.dy;
  const std::int64_t N = dy.shape.n, C = d.spec.channels, HW = dy.shape.h * dy.shape.w, M = N * HW;
  const double inv_m = 1.0 / static_cast<double>(M);
  detail::run_blocks(N, b.threads, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        const double gc = b.gamma[ci], r = b.r[ci];
        const double a = gc * b.sum_dy[ci] * inv_m, bx = gc * b.sum_dy_xhat[ci] * inv_m;
        const std::int64_t off = (n * C + c) * HW;
        for (std::int64_t i = 0; i < HW; ++i) {
          const auto e = static_cast<std::size_t>(off + i);
          const double t = gc * dy.data[e] - a;
          dx.data[e] = static_cast<float>(r * (with_xhat_term ? t - b.x_hat.data[e] * bx : t));
        }
      }
  });
}

void StandardBatchNorm::statistics(BatchNormData& d, const FTensor& x, bool training, bool update_running,
                                   int threads, std::span<float> mu, std::span<float> r) {
  const std::int64_t C = d.spec.channels;
  std::vector<double> mean, var;
  if (training) {
    batch_mean_variance(x, C, threads, mean, var);
    if (update_running) update_running_mean_variance(d, mean, var, x.shape.n * x.shape.h * x.shape.w);
  } else {
    mean.assign(d.running_mean.data.begin(), d.running_mean.data.end());
    var.assign(d.running_second.data.begin(), d.running_second.data.end());
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(C); ++i) {
    mu[i] = static_cast<float>(mean[i]);
    r[i] = static_cast<float>(1.0 / std::sqrt(var[i] + d.spec.eps));
  }
}

}  // namespace bitsim::sim::nn
