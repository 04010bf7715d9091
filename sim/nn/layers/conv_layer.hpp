// 2-D convolution layer (NCHW, square or rectangular kernel, stride, zero padding, optional bias).
//
// Every output element is ONE dot product in the order of sim/kernels/conv2d.hpp (forward: ci, kh, kw; input
// gradient: co, kh', kw' over the flipped kernel; weight gradient: the whole batch n, oh, ow), computed
// by the layer's GemmSetup and rounded to fp32, so the results are bit-identical to conv2d_forward /
// conv2d_backward_input / conv2d_backward_weight with GemmSetup::config() (tested). With the default
// setup the engine's panel kernel computes them from im2col operands (im2col.hpp): the forward and
// input gradient run image by image over threads, and the weight gradient carries one fp32
// accumulation chain per element through the batch image by image, its rows split over threads.
// Rounding points: output (+ bias, one float addition) -> A; dx -> E; dW, dbias -> G.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/kernels/panel_gemm.hpp"

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
  void forward_fast(const StepContext& ctx, const FTensor& x, FTensor& y);
  void backward_input_fast(const StepContext& ctx, const FTensor& dy, FTensor& dx);
  void backward_weight_fast(const StepContext& ctx, const FTensor& x, const FTensor& dy);

  ConvSpec spec_;
  Param weight_, bias_;
  const FTensor* input_ = nullptr;  // forward input, kept for the weight gradient
  double macs_ = 0;
  std::vector<float> flipped_;          // input-gradient weights [ci][co][kh'][kw']
  std::vector<float> transposed_grad_;  // dW^T [k][co] while the weight gradient accumulates
  std::vector<float> xpad_all_;         // weight gradient: every image zero-padded
  std::vector<Panels> dyt_all_;         // weight gradient: every image's dy^T in panels
};

// The registry's constructor of `type = "conv"` (layer_registry.hpp).
std::unique_ptr<Layer> make_conv_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
