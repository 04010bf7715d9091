// A model: layers in a directed acyclic graph stored in topological order (node j reads the outputs of
// nodes with smaller indices, or the model input, written -1); the last node's output is the logits.
//
// Backward visits nodes in reverse. A tensor read by several nodes (a residual block's input) gets the
// sum of their input gradients: the first one computed (by the consumer with the largest index) is
// written in place, each further one added with one fp32 addition, in decreasing consumer index; the sum
// is then rounded to the producing layer's E role (slot 7). That sum is the only rounding point the
// graph adds to the layers' own.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/nn/model_spec.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bitsim::sim::nn {

class Model {
 public:
  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs;  // node indices, -1 = the model input
    Nchw out_shape;           // for one sample (n = 1)
    int consumers = 0;
  };

  // Runs every layer in order; returns the logits (valid until the next forward).
  const FTensor& forward(StepContext ctx, const FTensor& x);
  // Propagates dlogits back, filling every parameter's grad.
  void backward(StepContext ctx, const FTensor& dlogits);
  // Rounds every parameter to its layer's W role (before forward).
  void round_weights(StepContext ctx);

  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const Nchw& input_shape() const { return input_shape_; }
  // Every trainable parameter with its full name ("block4.conv2.weight"), in a stable order.
  std::vector<std::pair<std::string, Param*>> parameters();
  // Running statistics and other checkpointed state ("bn1.buffer0").
  std::vector<std::pair<std::string, FTensor*>> buffers();
  std::int64_t parameter_count();
  double forward_macs_per_sample() const;
  // A table: node, name, kind, inputs, output shape, parameters, roles that are not fp32, GEMM setup.
  std::string summary();

  // Per-layer wall-clock timing of forward and backward (off by default; a clock read per layer call).
  void enable_timing(bool on) { timing_ = on; }
  // A table of the accumulated forward / backward milliseconds per layer, then resets them.
  std::string timing_report();

  // Multiplies dL/dlogits by ctx.loss_scale (loss scaling), then rounds it in place to the last layer's
  // E role: the rounding site (node nodes().size(), E, slot 0) of that layer with tensor "loss",
  // reported to ctx.observer like every other site.
  void round_loss_gradient(StepContext ctx, FTensor& dlogits);

 private:
  friend Model build_model(const ModelSpec&, const Nchw&, const std::function<void(Layer&)>&);
  std::vector<Node> nodes_;
  Nchw input_shape_;
  std::vector<FTensor> out_, grad_;
  FTensor tmp_[2];
  bool timing_ = false;
  std::vector<double> fwd_ms_, bwd_ms_;
};

// Limits of build_model: a layer's parameters (weights or biases of one tensor) and one sample's output
// of a layer, in elements. They keep every size product far from overflow and turn a mistyped width
// into a clear error instead of an allocation failure (2^28 floats are 1 GiB, before momentum).
inline constexpr std::int64_t kMaxLayerParameters = std::int64_t{1} << 28;
inline constexpr std::int64_t kMaxSampleActivations = std::int64_t{1} << 28;
// A batch's layer output (batch x one sample's output), checked by the config reader.
inline constexpr std::int64_t kMaxBatchActivations = std::int64_t{1} << 32;

// Builds the graph of `spec` for inputs of shape `input` (n ignored), calling `configure` on every layer
// after its name is set (it assigns roles and the GEMM setup). Throws ModelError naming the
// layer (and, for a layer described in a config, LayerSpec::origin) for a bad description (unknown
// type, missing `out`, shapes that do not fit, duplicate names, sizes above the limits above).
Model build_model(const ModelSpec& spec, const Nchw& input, const std::function<void(Layer&)>& configure);

// Initialization: conv weights He normal (std sqrt(2 / fan_in)), linear weights LeCun normal
// (std sqrt(1 / fan_in)), biases 0, batch-norm gamma
// 1 and beta 0, running mean 0 and variance 1. Normal deviates by Box-Muller from Philox words keyed by
// (seed, parameter index): the same seed gives the same weights.
void initialize(Model& model, std::uint64_t seed);

}  // namespace bitsim::sim::nn
