// Layers without parameters: ReLU, flatten, residual add, max / average pooling, global average pool.
//
// Rounding points: output -> A, input gradient -> E, as every layer (layer.hpp); what is computed
// before those roundings:
//   relu      y = x > 0 ? x : +0;  dx = x > 0 ? dy : +0 (x the forward input; NaN stays NaN)
//   flatten   y = x reshaped to [N, C*H*W, 1, 1];  dx = dy reshaped back
//   add       y = a + b (one fp32 addition);  da = db = dy
//   maxpool   y = the window's maximum (first in (kh, kw) order on ties; padding never wins);
//             dx = sum of dy over the windows whose maximum is that element, fp32 additions from +0
//             in increasing output position, which is max_pool2d_backward's order (elementwise.hpp)
//   avgpool   y = fp32 chain fma(x, w, s) over the window in (kh, kw) order from +0, w = fp32(1/(KH KW))
//             (padding counts as +0 and in the divisor); dx = the same chain over the windows that
//             read the element, in increasing output position (avg_pool2d_forward / _backward)
//   gap       avgpool with the window the whole plane: y is [N, C, 1, 1]
// The fp32 chains above are the default GemmSetup; under any other setup of the layer, average pooling,
// GAP and overlapping max-pool backward run the reference kernels with that setup.
#pragma once

#include "sim/nn/layer.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

class ReluLayer final : public Layer {
 public:
  const char* kind() const override { return "relu"; }
  Nchw output_shape(std::span<const Nchw> in) const override { return in[0]; }
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;

 private:
  const FTensor* input_ = nullptr;
};

class FlattenLayer final : public Layer {
 public:
  const char* kind() const override { return "flatten"; }
  Nchw output_shape(std::span<const Nchw> in) const override { return Nchw{in[0].n, in[0].c * in[0].h * in[0].w, 1, 1}; }
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;

 private:
  Nchw in_shape_;
};

class AddLayer final : public Layer {
 public:
  const char* kind() const override { return "add"; }
  int arity() const override { return 2; }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
};

struct PoolSpec {
  std::int64_t kernel = 2, stride = 2, pad = 0;
  bool global = false;  // the window is the whole plane (kernel, stride, pad ignored)
};

class MaxPoolLayer final : public Layer {
 public:
  explicit MaxPoolLayer(const PoolSpec& spec);
  const char* kind() const override { return "maxpool"; }
  bool reads_gemm_setup() const override { return true; }  // backward of overlapping windows
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;

 private:
  PoolSpec spec_;
  Nchw in_shape_;
  std::vector<std::int32_t> argmax_;  // per output element: offset of the winner within its image plane
};

class AvgPoolLayer final : public Layer {
 public:
  explicit AvgPoolLayer(const PoolSpec& spec);
  const char* kind() const override { return spec_.global ? "gap" : "avgpool"; }
  bool reads_gemm_setup() const override { return true; }
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;

 private:
  struct Window {
    std::int64_t kh, kw, stride, pad;
  };
  Window window(const Nchw& x) const;
  PoolSpec spec_;
  Nchw in_shape_;
};

// The registry's constructors of these types (layer_registry.hpp).
std::unique_ptr<Layer> make_relu_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_flatten_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_maxpool_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_avgpool_layer(const LayerBuild& b);
std::unique_ptr<Layer> make_gap_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
