// Fully connected layer: y[n][o] = sum_f x[n][f] * W[o][f] (+ bias[o]), the input flattened to
// F = C*H*W features per sample (so no separate flatten is needed in front of it).
//
// Dot products (one per element, order of k spelt out, computed by the layer's GemmSetup):
//   forward         y[n][o]  over f = 0..F-1     (sim::gemm of x and W^T)
//   input gradient  dx[n][f] over o = 0..O-1     (dy times W)
//   weight gradient dW[o][f] over n = 0..N-1     (dy^T times x)
//   bias gradient   db[o]    over n = 0..N-1 of dy[n][o] * 1
// Rounding points: output (+ bias, one float addition) -> A; dx -> E; dW, db -> G.
#pragma once

#include "sim/nn/layer.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

struct LinearSpec {
  std::int64_t in_features = 0, out_features = 0;
  bool bias = true;
};

class LinearLayer final : public Layer {
 public:
  explicit LinearLayer(const LinearSpec& spec);
  const char* kind() const override { return "linear"; }
  bool reads_gemm_setup() const override { return true; }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override;
  double forward_macs_per_sample() const override {
    return static_cast<double>(spec_.in_features) * static_cast<double>(spec_.out_features);
  }
  bool has_weight_product() const override { return true; }

 private:
  LinearSpec spec_;
  Param weight_, bias_;
  const FTensor* input_ = nullptr;
  std::vector<float> scratch_;
};

// The registry's constructor of `type = "linear"` (layer_registry.hpp).
std::unique_ptr<Layer> make_linear_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
