// WAGEUBN's batch normalization (Yang et al. 2019, the official code's BatchNorm.py):
//   training: mean_c and var_c (biased) as standard BN, running statistics likewise; inference: the
//   running ones
//   mu_c = round_BN_MEAN(float(mean_c)),  s_c = round_BN_SCALE(float(sqrt(var_c))) + eps  (fp32; eps
//   = 2^-15 by default, added after the rounding, as the reference: Q(sigma, 16) + 2^-15)
//   x_hat = round_BN_NORM(float((x - mu_c) / s_c))  (fp32: one subtraction, one division)
// So with this method BN_SCALE rounds the standard deviation (a divisor), not 1/sqrt(var + eps).
// Backward: the gradient of that forward pass with every rounding straight through (what the
// reference's autograd computes), reading the layer's input x, which stays alive until backward:
//   dx = float(g dy / s - g dbeta / (M s) + (x - mean) dsigma / (M sigma)),
//   dsigma = -g sum(dy float(x - mu_c)) / s^2   (double; sums in the fixed order of
//   sim/nn/layers/fixed_order_sum.hpp). A channel with sigma = 0 is constant (x - mean = 0): its variance
//   term is taken as 0, where the reference's gradient is NaN or Inf.
// Where this departs from the authors' code: experiments/wageubn2019/README.md.
#pragma once

#include "sim/nn/layers/batchnorm_method.hpp"

namespace bitsim::sim::methods {

class WageubnBatchNorm final : public nn::BatchNormMethod {
 public:
  // Throws KernelShapeError for eps < 0.
  explicit WageubnBatchNorm(double eps = 0x1p-15);
  std::string name() const override { return "wageubn"; }
  std::string summary_note() const override { return "wageubn-BN "; }
  void statistics(nn::BatchNormData& d, const nn::FTensor& x, bool training, bool update_running, int threads,
                  std::span<float> mu, std::span<float> r) override;
  void after_scale_rounding(std::span<float> r) const override;
  bool divides() const override { return true; }
  bool needs_input() const override { return true; }
  void input_gradient(const nn::BatchNormData& d, const nn::BatchNormBackward& b, nn::FTensor& dx) const override;

 private:
  float eps_;
  std::vector<double> mean_, sigma_;  // unrounded mean and standard deviation per channel
};

}  // namespace bitsim::sim::methods
