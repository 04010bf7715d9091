// Batch normalization (Ioffe & Szegedy 2015), per channel over N*H*W values (so also after a linear
// layer, whose output is [N, C, 1, 1]), split into normalization and affine steps (Graham 2017):
//
//   training:  mean_c = sum x / M,  var_c = sum (x - mean_c)^2 / M   (double; every sum here is taken
//              in one fixed order: 8 interleaved partial sums, element i of each (n, c) plane into
//              partial i mod 8, planes in increasing n, partials combined as ((0+1)+(2+3))+((4+5)+(6+7)))
//              running_mean = (1 - momentum) running_mean + momentum mean_c, running_var likewise with
//              the unbiased variance M/(M-1) var_c (PyTorch's convention)
//   inference: mean_c = running_mean, var_c = running_var
//   mu_c = round_BN_STAT(float(mean_c)),  r_c = round_BN_STAT(float(1 / sqrt(var_c + eps)))
//   x_hat = round_BN_NORM(float((x - mu_c) * r_c))        (fp32: one subtraction, one multiplication)
//   y = round_A(gamma_c * x_hat + beta_c)                   (fp32: one multiplication, one addition)
// Backward reads the stored (rounded) x_hat and r_c, as Graham 2017 eq. (2) proposes:
//   dbeta_c = sum dy,  dgamma_c = sum dy * x_hat             (double, the same order) -> G
//   dx = r_c * (gamma_c dy - (gamma_c dbeta_c + x_hat gamma_c dgamma_c) / M)  (double, rounded to
//        float) -> E
// With no rounding (fp32 roles) this is the exact gradient of the forward pass up to fp32 rounding.
#pragma once

#include "sim/nn/layer.hpp"

namespace bitsim::sim::nn {

struct BatchNormSpec {
  std::int64_t channels = 0;
  double eps = 1e-5;
  double momentum = 0.1;
};

class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(const BatchNormSpec& spec);
  const char* kind() const override { return "batchnorm"; }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override { return {&gamma_, &beta_}; }
  std::vector<FTensor*> buffers() override { return {&running_mean_, &running_var_}; }
  // The stored normalized activation of the last forward pass (for tests and statistics).
  const FTensor& normalized() const { return x_hat_; }

 private:
  BatchNormSpec spec_;
  Param gamma_, beta_;
  FTensor running_mean_, running_var_;
  FTensor x_hat_, mu_, r_;  // x_hat and the per-channel statistics as used
};

}  // namespace bitsim::sim::nn
