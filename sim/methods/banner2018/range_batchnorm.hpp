// Range BN (Banner et al. 2018, as their reference code computes it): batch normalization whose scale
// comes from the mean range of chunks of each channel instead of its variance.
//
//   the M = N*H*W values of a channel, in (n, h, w) order, are cut into K contiguous chunks of L = M/K
//   (K = 16 by default; M must divide by K, and L >= 2)
//   mean_c = sum x / M (double, fixed order); R_c = (sum_k max chunk_k - sum_k min chunk_k) / K
//   (double, k in order); scale_c = 1 / (R_c C(L) + eps) with C(L) = 0.540208362487903 / sqrt(2 ln L)
//   running_mean = (1 - w) running_mean + w mean_c, running_scale = (1 - w) running_scale + w scale_c,
//   w = 0.9 by default (the reference code's momentum 0.1 weighs the old value); both start at 0 and
//   running_scale is the layer's second buffer (where standard BN keeps the variance)
//   inference: mean_c = running_mean, scale_c = running_scale
//   mu_c = round_BN_MEAN(float(mean_c)), r_c = round_BN_SCALE(float(scale_c)); x_hat = (x - mu_c) r_c
// Backward (the exact gradient, straight through every rounding; x - mu read as x_hat / r_c):
//   dx = float(r_c (gamma_c dy - gamma_c dbeta_c / M))          (double per element)
//   then, at the first maximum of each chunk, dx = float(dx + share_c) with
//   share_c = -(gamma_c dgamma_c / r_c) C(L) scale_c^2 / K (double), and dx = float(dx - share_c) at the
//   first minimum (the range's gradient reaches those elements only; if they coincide, neither
//   changes).
// Where this departs from the authors' code: experiments/banner2018/README.md.
#pragma once

#include "sim/nn/layers/batchnorm_method.hpp"

namespace bitsim::sim::methods {

// Range BN's constant C(n) for chunks of n values (n >= 2).
double range_bn_constant(std::int64_t n);

class RangeBatchNorm final : public nn::BatchNormMethod {
 public:
  // Throws KernelShapeError for chunks < 1 or new_weight outside [0, 1].
  RangeBatchNorm(std::int64_t chunks = 16, double new_weight = 0.9);
  std::string name() const override { return "range"; }
  std::string summary_note() const override { return "range-BN "; }
  float initial_second() const override { return 0.0f; }  // as the reference code
  void statistics(nn::BatchNormData& d, const nn::FTensor& x, bool training, bool update_running, int threads,
                  std::span<float> mu, std::span<float> r) override;
  void input_gradient(const nn::BatchNormData& d, const nn::BatchNormBackward& b, nn::FTensor& dx) const override;

 private:
  std::int64_t chunks_;
  double new_weight_;
  std::vector<double> scale_;                    // unrounded scale per channel (training)
  std::vector<std::int64_t> arg_max_, arg_min_;  // first max / min of each (channel, chunk)
};

}  // namespace bitsim::sim::methods
