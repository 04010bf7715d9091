// A layer of the training engine: forward, backward, its parameters and its role roundings.
//
// Rounding points common to every layer (the per-layer ones are documented in its header):
//   * forward output  -> roles[A]   (every layer's output is an activation)
//   * output gradient -> roles[DY]  (dL/dy as the layer's backward reads it, rounded on entry)
//   * with `bifurcate`: a second copy of dL/dy -> roles[DY_W], read only by the weight-gradient product
//     and the bias gradient of conv and linear layers (Banner et al. 2018); without it they read DY's
//   * input gradient  -> roles[E]   (what the layer propagates backward)
//   * parameter gradient -> roles[G]
//   * before each step's forward, every parameter's stored value is rounded to roles[W]; forward and
//     backward read that rounded copy (Param::used()), the optimizer updates the stored value.
// Arithmetic inside a layer is fp32 unless the layer says otherwise; products of matrices follow the
// layer's GemmSetup (sim/kernels/gemm_setup.hpp). Layers never allocate per element and keep their scratch
// buffers between steps.
#pragma once

#include "sim/kernels/ftensor.hpp"
#include "sim/kernels/gemm_setup.hpp"
#include "sim/nn/role.hpp"
#include "sim/nn/tensor_scale.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

namespace bitsim::sim::nn {

class Layer;

// One rounding site at work: which layer, role and tensor, the values before and after, and the
// power-of-two scale of the tensor when its quantizer chose one (tensor_scale.hpp). Identity roles are
// reported too (before == after).
struct RoundingEvent {
  const Layer* layer = nullptr;
  Role role = Role::W;
  int slot = 0;
  std::string_view tensor;  // "weight", "bias", "gamma", "beta" for parameters; else empty
  std::span<const float> before, after;
  PowerOfTwoScale scale;
};

// Sees every rounding site of a step when set in the StepContext (the representability walk of the
// tests; statistics). Called from the thread that runs the layer, never concurrently for one model.
class RoundingObserver {
 public:
  virtual ~RoundingObserver() = default;
  virtual void on_rounding(const RoundingEvent& event) = 0;
};

// What a layer needs to know about the step it is part of.
struct StepContext {
  bool training = true;       // batch statistics and saved state for backward (false: inference)
  std::uint64_t step = 0;     // global optimizer step (keys the stochastic-rounding streams)
  std::uint64_t seed = 0;     // the run's seed
  int threads = 1;            // results never depend on it
  std::int64_t node = 0;      // index of the layer in the model (keys its rounding sites)
  // Training only: whether this forward updates the running estimates (batch-norm statistics, range
  // roles with sample_mean ranges). With micro-batches (train.micro_batches), only the first does,
  // as only the first rank's buffers count in data-parallel training.
  bool update_running = true;
  RoundingObserver* observer = nullptr;  // sees every rounding (none: no cost)
  // Loss scaling (sim/train/loss_scaling.hpp): dL/dlogits is multiplied by it before its rounding to E.
  float loss_scale = 1;

  // Seed of the stochastic-rounding stream of one site of this layer at this step.
  std::uint64_t seed_for(Role r, int slot = 0) const { return site_seed(seed, step, site_id(node, r, slot)); }
};

struct Param {
  std::string name;     // "weight", "bias", "gamma", "beta"
  FTensor value;        // the stored (master) values the optimizer updates
  FTensor rounded;      // value rounded to W (only filled when W is not the identity)
  FTensor grad;         // dL/dparam, rounded to G
  FTensor momentum;     // optimizer state, rounded to M (SGD's momentum, Adam's first moment)
  FTensor second_moment;  // Adam's second moment, rounded to V (empty for SGD)
  bool w_identity = true;
  // What forward and backward read: value rounded to the layer's W role.
  const FTensor& used() const { return w_identity ? value : rounded; }
};

class Layer {
 public:
  virtual ~Layer() = default;
  // "conv", "linear", ...: the type name of the model description.
  virtual const char* kind() const = 0;
  // Output shape for the given input shapes; throws KernelShapeError naming the layer when they do
  // not fit. Called once when the model is built.
  virtual Nchw output_shape(std::span<const Nchw> in) const = 0;
  // Number of inputs (1, or 2 for the residual add).
  virtual int arity() const { return 1; }
  // y = layer(inputs), then rounded to roles[A]. Input tensors stay alive and unchanged until backward.
  virtual void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) = 0;
  // From dy = dL/dy, fills dx[i] (resized here) for each input whose pointer is not null, rounded to
  // roles[E], and every parameter's grad rounded to roles[G].
  virtual void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) = 0;
  // Trainable parameters (stable order: it is the checkpoint and optimizer order).
  virtual std::vector<Param*> params() { return {}; }
  // Non-trainable state that is part of a checkpoint (batch-norm running statistics).
  virtual std::vector<FTensor*> buffers() { return {}; }
  // Sets the buffers to their initial values (zeros unless the layer says otherwise).
  virtual void reset_buffers() {
    for (FTensor* b : buffers()) std::fill(b->data.begin(), b->data.end(), 0.0f);
  }
  // Multiply-accumulate count of one forward pass per sample (for throughput reports).
  virtual double forward_macs_per_sample() const { return 0; }
  // Whether backward has a weight-gradient product that reads weight_dy() (conv, linear): only those
  // layers keep and round a DY_W copy when bifurcating.
  virtual bool has_weight_product() const { return false; }
  // Whether role r can change anything in this layer (the model summary lists only those): W, G, U,
  // M, V and W_MASTER need parameters, DY_W a weight-gradient product under bifurcation; the
  // batch-norm roles are the normalization layers' and ATT_S, ATT_P the attention layer's (they say so).
  virtual bool uses_role(Role r);
  // Whether the layer's arithmetic follows its GemmSetup (gemm_setup.hpp), so that the summary shows
  // a setup other than the engine's fp32 default.
  virtual bool reads_gemm_setup() const { return false; }
  // What the model summary adds about this layer's method ("range-BN "), ending in a space; or "".
  virtual std::string summary_notes() const { return {}; }
  // Numerator of the weights' initial variance gain / fan_in: 2 (He) where a ReLU follows, 1
  // (LeCun) for layers feeding a batch norm or the softmax directly.
  virtual double weight_init_gain() const { return 1.0; }
  // The model description's `init_gain`, which replaces weight_init_gain() when given (a transformer's
  // projections want a smaller variance than He's).
  std::optional<double> init_gain;

  // Rounds every parameter's stored value to roles[W] (called once per step before forward).
  void round_weights(const StepContext& ctx);
  // Called by the model with dL/dy before backward: keeps the DY_W copy when bifurcating (layers with a
  // weight-gradient product only), then rounds dy in place to roles[DY].
  void begin_backward(const StepContext& ctx, FTensor& dy);
  // Allocates the state of the role policies that keep one (RoundingPolicy::state_floats: a range role's
  // running [min, max]) after the roles are assigned.
  void prepare_role_state();
  // That state per role, checkpointed with the buffers; named "<role>.<state_name>", e.g. "A.running_range".
  std::vector<std::pair<std::string, FTensor*>> role_buffers();
  // Rounds x with role r at `slot` (the optimizer's and round_weights' entry): reports to ctx.observer;
  // `tensor` names a parameter ("weight") in errors and events; `samples` is the batch axis (for a
  // policy with state, e.g. a range role with running estimates).
  // `state_slot` (-1: `slot`) is the slot a policy's per-slot state is kept under (delayed scaling's
  // amax history): the loss gradient shares its site's slot with the last layer's own E and keeps its
  // history apart under kLossStateSlot.
  void round_span(const StepContext& ctx, Role r, std::span<float> x, int slot, std::string_view tensor = {},
                  std::int64_t samples = 1, const Nchw& shape = {}, int state_slot = -1);
  static constexpr int kLossStateSlot = 15;

  std::string name;
  RoleSet roles;
  GemmSetup gemm;
  bool bifurcate = false;
  // L2 weight decay added to a parameter's gradient before it is rounded to G (the optimizer's
  // weight_decay_point = "gradient": the L2 term is part of the loss, as in WAGEUBN's reference);
  // 0 when the optimizer adds it (the default). Applies to "weight" parameters, and to the others
  // when grad_decay_all.
  float grad_decay = 0;
  bool grad_decay_all = true;

 protected:
  // Rounds `t` with role r at slot `slot`; `what` names the tensor in errors.
  void round(const StepContext& ctx, Role r, FTensor& t, int slot = 0);
  // Adds the gradient-side weight decay to p.grad (see grad_decay), then rounds it to roles[G] at `slot`.
  void finish_grad(const StepContext& ctx, Param& p, int slot);
  // The output gradient the weight-gradient product reads: the DY_W copy when bifurcating, else dy.
  const FTensor& weight_dy(const FTensor& dy) const { return bifurcate && has_weight_product() ? dy_w_ : dy; }

 private:
  std::array<FTensor, kRoleCount> role_state_;
  FTensor dy_w_;
};

}  // namespace bitsim::sim::nn
