// Tensor roles and their rounding: the one mechanism by which a training scheme chooses number formats.
//
// Roles (named as in WAGEUBN, Yang et al. 2019, plus the batch-norm internals):
//   W   weights as used by forward and backward (the rounded copy of the stored weights)
//   A   activations: every layer's forward output
//   G   weight gradients (dL/dW, dL/dbias, dL/dgamma, dL/dbeta)
//   E   errors: every layer's input gradient dL/dx (what is propagated to the previous layer)
//   U   the weight update (learning rate times the optimizer's direction)
//   M   the momentum buffer (SGD), the first moment (Adam)
//   BN_MEAN  the batch-norm mean as used (per channel)
//   BN_NORM  the normalized activation x_hat = (x - mean) * scale before the affine step
//            (Graham 2017's N(x)); it is what the backward pass reads, so it is also what is stored.
//   BN_SCALE the batch-norm scale as used: 1/sqrt(var + eps), or Range BN's 1/(C(n) range + eps)
//   DY       the gradient dL/dy arriving at the layer's output, as its backward reads it (Banner et al.'s
//            quantized layer gradient; WAGEUBN's E2 for a convolution)
//   DY_W     with bifurcation on, the second copy of dL/dy that only the weight-gradient product (and the
//            bias gradient) of a conv or linear layer reads (Banner et al.'s "gradients bifurcation")
//   W_MASTER the stored (master) weights, rounded after every optimizer update (WAGEUBN's k_U = 24:
//            W <- Q(W - update, 24)); fp32 by default. (optimizer.master_weights = false rounds them to
//            W's format instead, as before this role existed.)
//   V        Adam's second moment (the running mean of squared gradients); SGD has none
//   ATT_S    an attention layer's scores QK^T / sqrt(d) as softmax reads them (attention_layer.hpp)
//   ATT_P    an attention layer's probabilities softmax(S) as the product with V reads them
// (Config files may write BN_STAT to set BN_MEAN and BN_SCALE together.)
// Each role of each layer has a RoleRounding: a handle on one RoundingPolicy, the interface every way
// of rounding a role implements. sim/nn holds the generic ones (a format with a rounding mode, sr with R
// bits too; a scaled, affine or MX policy of the format-carrying tensor, sim/tensor/tensor_policy.hpp,
// applied by sim::Tensor itself: quantize, then decode to floats); the paper quantizers live with their
// papers (Banner et al.'s min/max range quantizer in sim/methods/banner2018/range_rounding.hpp,
// WAGEUBN's direct, shift, flag and constant in sim/methods/wageubn2019/wage_rounding.hpp); and
// sim/methods/rounding_policies.cpp declares each by its config name, so any policy can be given to any
// role. fp32 with rne is the identity on floats and costs nothing.
//
// A tensor policy sees the role's tensor in its NCHW shape [n, c, h, w] (weights [out, in, kh, kw],
// a linear layer's [out, in, 1, 1], biases and per-channel vectors [1, c, 1, 1]):
//   * mx: blocks of K consecutive indices of axis 1 (channels, features; a weight's input axis) for each
//     (n, h, w): the reduction axis of the forward product for W and A, of the backward-data product for
//     E, as MX hardware blocks a convolution. Stochastic rounding: element (n, k, h, w) takes word
//     ((n * h * w + h_i * w + w_i) * c + k) of the site's stream (the channel-last order).
//   * scaled, affine: the policy's axis (if any) is an axis of [n, c, h, w]; words in NCHW order.
//
// Stochastic rounding is reproducible: the words of one rounding site come from Philox4x32-10 keyed by
// site_seed(run seed, step, site), element j using word j. A site is (node index, role, slot), so two
// different tensors never share words and a thread split never changes which word an element uses.
#pragma once

#include "formats/format.hpp"
#include "formats/format_limits.hpp"
#include "formats/quantizer.hpp"
#include "formats/rounding.hpp"
#include "sim/nn/tensor_scale.hpp"
#include "sim/kernels/nchw.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bitsim::sim::nn {

// The numbers key the stochastic-rounding sites: new roles are appended, never inserted.
enum class Role { W, A, G, E, U, M, BN_MEAN, BN_NORM, BN_SCALE, DY, DY_W, W_MASTER, V, ATT_S, ATT_P };
inline constexpr int kRoleCount = 15;
const char* role_name(Role r);
std::optional<Role> parse_role(std::string_view name);
// Every role's name in order, comma-separated ("W, A, G, ..."), for messages and help texts.
const std::string& role_names_text();

// What a policy that keeps state in its layer (Banner et al.'s running ranges, delayed scaling's amax
// histories) needs from its caller: the number of samples (first axis), whether this is a training step,
// the layer's state for this role (state_floats() floats, checkpointed), whether a training step may
// change it, and which tensor of the role this is (the site's slot: 0 weight, 1 bias, ...).
struct PolicyState {
  std::int64_t samples = 1;
  bool training = true;
  float* values = nullptr;
  bool update = true;
  int slot = 0;
};

// One way of rounding a role's tensor. Immutable once made; a RoleRounding shares it.
class RoundingPolicy {
 public:
  virtual ~RoundingPolicy() = default;
  // The config spelling, which reads back to an equal policy (with rounding()): "fp8_e4m3",
  // "mxfp8_e4m3", "range(bits=8,range=sample_mean,new_weight=0.9)", "constant(bits=8)".
  virtual std::string text() const = 0;
  virtual formats::RoundingSpec rounding() const = 0;
  // Whether stochastic rounding's noise width is the policy's own (range: 24 bits, WAGEUBN: 32), not a
  // choice of the config (sr_bits).
  virtual bool noise_is_fixed() const { return false; }
  // The finite range of the values it produces: the format's (formats/format_limits.hpp); for policies
  // whose range or scale follows the tensor, only the number of codes (limits infinite).
  virtual const formats::FiniteLimits& finite_limits() const = 0;
  // For the statistics: the name of the format of its codes (empty when the values are floats on a grid
  // that follows the tensor, as the range and WAGEUBN quantizers keep them) and the code width in bits.
  virtual std::string code_format() const = 0;
  virtual std::int64_t code_bits() const = 0;
  // The format every rounded value is a value of, with no scale, or nullptr: only then can a layer
  // store the values as codes of that format.
  virtual const formats::Format* value_format() const { return nullptr; }
  virtual bool is_identity() const { return false; }
  // Floats of state it keeps per layer and role (0: none), and the state's name in checkpoints.
  virtual int state_floats() const { return 0; }
  virtual const char* state_name() const { return ""; }
  // Whether its state is per sample of a batch axis (a range role's sample-mean ranges), so that only
  // roles with one (A, DY, DY_W, BN_NORM) can take it.
  virtual bool needs_batch_axis() const { return false; }
  // Rounds x in place (see RoleRounding::apply). `state` is given when state_floats() > 0.
  virtual PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, int threads, const PolicyState* state,
                                const Nchw& shape) const = 0;
};

// The common part of the paper quantizers (range, WAGEUBN): the values stay floats on a grid that
// follows the tensor (codes of `bits` bits, no format of their own, infinite limits), rounded to
// nearest even or stochastically with noise of the quantizer's own width.
class TensorGridPolicy : public RoundingPolicy {
 public:
  TensorGridPolicy(int bits, bool stochastic, int noise_bits);
  formats::RoundingSpec rounding() const override { return rounding_; }
  bool noise_is_fixed() const override { return true; }
  const formats::FiniteLimits& finite_limits() const override { return limits_; }
  std::string code_format() const override { return {}; }
  std::int64_t code_bits() const override { return bits_; }

 protected:
  bool stochastic() const { return rounding_.mode == formats::Rounding::sr; }

 private:
  int bits_;
  formats::RoundingSpec rounding_{};
  formats::FiniteLimits limits_;
};

// A format and a rounding, or any other policy, for one role. Copyable; the policy is shared.
class RoleRounding {
 public:
  RoleRounding();  // fp32, rne: the identity
  // Throws formats::FormatError when the format's values are not all exact in float (the engine's
  // arrays are floats) or the rounding is not allowed for the format; `what` prefixes the message.
  RoleRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what = {});
  explicit RoleRounding(std::shared_ptr<const RoundingPolicy> policy);

  // A scaled, affine or MX policy of sim::Tensor with `rounding` (an elementwise policy is the plain
  // format constructor). Throws formats::FormatError (prefixed by `what`) for a rounding the element
  // format does not allow or an element format a float cannot hold.
  static RoleRounding tensor_policy(const TensorPolicy& policy, formats::RoundingSpec rounding, const std::string& what = {});

  // The format the rounded values belong to: a plain format role's; for every other policy fp32 (the
  // values stay floats, on a grid lo + k s or codes times a scale, not values of one format).
  const formats::Format& format() const;
  // Whether every rounded value is a value of format() with no scale (plain format roles).
  bool values_are_codes() const { return policy_->value_format() != nullptr; }
  const RoundingPolicy& policy() const { return *policy_; }
  // The policy as its concrete type, or nullptr (for code of that policy's own, e.g. WAGEUBN's gscale
  // schedule).
  template <class P> const P* policy_as() const { return dynamic_cast<const P*>(policy_.get()); }
  int state_floats() const { return policy_->state_floats(); }
  formats::RoundingSpec rounding() const { return policy_->rounding(); }
  bool is_identity() const { return policy_->is_identity(); }
  bool is_stochastic() const { return rounding().mode == formats::Rounding::sr; }
  const formats::FiniteLimits& finite_limits() const { return policy_->finite_limits(); }
  // The config spelling without the rounding (RoundingPolicy::text).
  std::string text() const { return policy_->text(); }
  // "fp8_e4m3", "fp8_e4m3 sr(R=8)", "range(bits=8,range=sample_mean) sr" or "constant(bits=8) sr": for logs.
  std::string describe() const;

  // Rounds x in place; `shape` (numel = x.size(), else x is taken as one row [1, x.size(), 1, 1]) is
  // what a tensor-policy role groups by. For sr, element j uses PhiloxWords(seed).word(j), so splitting
  // the array over `threads` never changes a result. Throws formats::QuantizeError (e.g. NaN into a
  // format without NaN) with `what` prepended, naming the same element whatever the thread count.
  // A policy with state (state_floats() > 0) needs `state` (std::logic_error without it). Returns the
  // power-of-two scale a WAGEUBN shift, flag or constant quantizer used (scaled = false otherwise).
  PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, const char* what = "", int threads = 1,
                        const PolicyState* state = nullptr, const Nchw& shape = {}) const;

 private:
  std::shared_ptr<const RoundingPolicy> policy_;
};

// The scaled, affine or MX policy of a tensor-policy role, or nullptr for any other policy.
const TensorPolicy* tensor_policy_of(const RoleRounding& role);

// The roles of one layer.
struct RoleSet {
  std::array<RoleRounding, kRoleCount> by_role{};
  const RoleRounding& operator[](Role r) const { return by_role[static_cast<std::size_t>(r)]; }
  RoleRounding& operator[](Role r) { return by_role[static_cast<std::size_t>(r)]; }
};

// Seed of the Philox stream of one rounding site at one step (splitmix64 of the three).
std::uint64_t site_seed(std::uint64_t run_seed, std::uint64_t step, std::uint64_t site);
// A site number: node index, role and a slot (which tensor of that role in the layer, e.g. 0 weight,
// 1 bias).
inline std::uint64_t site_id(std::int64_t node, Role role, int slot = 0) {
  return (static_cast<std::uint64_t>(node) << 12) | (static_cast<std::uint64_t>(role) << 4) | static_cast<std::uint64_t>(slot);
}


}  // namespace bitsim::sim::nn
