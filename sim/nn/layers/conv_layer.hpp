// 2-D convolution layer (NCHW, square or rectangular kernel, stride, zero padding, optional bias).
//
// Every output element is ONE dot product in the order of sim/kernels/conv2d.hpp (forward: ci, kh, kw; input
// gradient: co, kh', kw' over the flipped kernel; weight gradient: the whole batch n, oh, ow), computed
// by the layer's GemmSetup and rounded to fp32: sim/kernels/conv_kernels.hpp chooses between the
// engine's fp32 kernels and the reference kernels of conv2d.hpp, which agree bit for bit (tested).
// Rounding points: output (+ bias, one float addition) -> A; dx -> E; dW, dbias -> G.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/kernels/conv_kernels.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

struct ConvSpec {
  std::int64_t in_channels = 0, out_channels = 0;
  std::int64_t kernel_h = 3, kernel_w = 3;
  std::int64_t stride = 1, pad = 0;
  bool bias = false;
};

class ConvLayer final : public Layer {
 public:
  explicit ConvLayer(const ConvSpec& spec);
  const char* kind() const override { return "conv"; }
  bool reads_gemm_setup() const override { return true; }
  double weight_init_gain() const override { return 2.0; }  // a ReLU follows
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override;
  double forward_macs_per_sample() const override { return macs_; }
  bool has_weight_product() const override { return true; }
  const ConvSpec& spec() const { return spec_; }

 private:
  ConvSpec spec_;
  Param weight_, bias_;
  const FTensor* input_ = nullptr;  // forward input, kept for the weight gradient
  double macs_ = 0;
  ConvKernels kernels_;
};

// The registry's constructor of `type = "conv"` (layer_registry.hpp).
std::unique_ptr<Layer> make_conv_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
