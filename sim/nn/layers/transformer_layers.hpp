// The elementwise and normalization layers of a transformer: layer norm, RMS norm, GELU and a learned
// position embedding. (Multi-head self-attention: attention_layer.hpp.) A vision transformer keeps its
// tokens as [N, D, H, W], one token of D channels per position (h, w), so a patch embedding is a conv with
// kernel = stride = the patch size and the token MLP is two 1x1 convs; these layers follow that layout.
//
// Layer norm normalizes the C channels of each position (n, h, w); the statistics precision is explicit
// as batch norm's (batchnorm_layer.hpp), with the same roles:
//   mean_p = sum_c x / C,  var_p = sum_c (x - mean_p)^2 / C       (double; sums in increasing c)
//   mu_p = round_BN_MEAN(float(mean_p)),  r_p = round_BN_SCALE(float(1 / sqrt(var_p + eps)))
//   x_hat = round_BN_NORM(float((x - mu_p) * r_p))                 (fp32: one subtraction, one multiplication)
//   y = round_A(gamma_c * x_hat + beta_c)                          (fp32: one multiplication, one addition)
// RMS norm (Zhang & Sennrich 2019) has no mean and no beta:
//   r_p = round_BN_SCALE(float(1 / sqrt(sum_c x^2 / C + eps))),  x_hat = round_BN_NORM(x * r_p),
//   y = round_A(gamma_c * x_hat)
// The statistics tensors are [N, 1, H, W] (one value per position). Backward reads the stored (rounded)
// x_hat and r_p, as batch norm's does; with g = gamma_c dy (double):
//   dbeta_c = sum dy,  dgamma_c = sum dy * x_hat       (double, over n then positions in order) -> G
//   layer norm: dx = r_p (g - mean_c g - x_hat mean_c(g x_hat))    (double, rounded to float) -> E
//   RMS norm:   dx = r_p (g - x_hat mean_c(g x_hat))
// Both compute the same in training and inference (no running statistics).
//
// GELU (Hendrycks & Gimpel 2016), the exact form:
//   y = round_A(float(x Phi(x))),  Phi(x) = (1 + erf(x / sqrt 2)) / 2      (double)
//   dx = round_E(float(dy (Phi(x) + x phi(x)))),  phi the standard normal density (double)
// Position embedding: a parameter `embedding` of shape [1, C, H, W] (initially zero), rounded to W:
//   y = round_A(x + e) (one fp32 addition);  dx = round_E(dy);  de = sum over n of dy (double) -> G
#pragma once

#include "sim/nn/layer.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

struct NormSpec {
  std::int64_t channels = 0;
  double eps = 1e-5;
  bool rms = false;  // RMS norm: no mean, no beta
};

class LayerNormLayer final : public Layer {
 public:
  explicit LayerNormLayer(const NormSpec& spec);
  const char* kind() const override { return spec_.rms ? "rmsnorm" : "layernorm"; }
  bool uses_role(Role r) override {
    return r == Role::BN_SCALE || r == Role::BN_NORM || (r == Role::BN_MEAN && !spec_.rms) || Layer::uses_role(r);
  }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override;
  // x_hat and r_p of the last forward pass, as used (for tests).
  const FTensor& normalized() const { return x_hat_; }
  const FTensor& scales() const { return r_; }

 private:
  NormSpec spec_;
  Param gamma_, beta_;
  FTensor x_hat_, mu_, r_;
};

class GeluLayer final : public Layer {
 public:
  const char* kind() const override { return "gelu"; }
  Nchw output_shape(std::span<const Nchw> in) const override { return in[0]; }
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;

 private:
  const FTensor* input_ = nullptr;
  std::vector<double> cdf_;  // Phi(x) of the last training forward pass
};

class PosEmbedLayer final : public Layer {
 public:
  explicit PosEmbedLayer(const Nchw& sample);  // the shape of one sample [1, C, H, W]
  const char* kind() const override { return "pos_embed"; }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override { return {&embedding_}; }

 private:
  Param embedding_;
};

// The registry's constructors of these types (layer_registry.hpp).
std::unique_ptr<Layer> make_layernorm_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_rmsnorm_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_gelu_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_pos_embed_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
