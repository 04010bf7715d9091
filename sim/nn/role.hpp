// Tensor roles and their rounding: the one mechanism by which a training scheme chooses number formats.
//
// Roles (named as in WAGEUBN, Yang et al. 2019, plus the batch-norm internals):
//   W   weights as used by forward and backward (the rounded copy of the stored weights)
//   A   activations: every layer's forward output
//   G   weight gradients (dL/dW, dL/dbias, dL/dgamma, dL/dbeta)
//   E   errors: every layer's input gradient dL/dx (what is propagated to the previous layer)
//   U   the weight update (learning rate times the optimizer's direction)
//   M   the momentum buffer
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
// (Config files may write BN_STAT to set BN_MEAN and BN_SCALE together.)
// Each role of each layer has a RoleRounding: a format with a rounding mode (sr with R bits too), the
// min/max range quantizer of Banner et al. (sim/nn/range_quantizer.hpp) with its bit width and range
// rule, one of WAGEUBN's direct, shift, flag and constant quantizers (sim/nn/wageubn_quantizer.hpp),
// or a scaled, affine or MX policy of the format-carrying tensor (sim/tensor/tensor_policy.hpp), applied by
// sim::Tensor itself (quantize, then decode to floats). fp32 with rne is the identity on floats and
// costs nothing.
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
#include "sim/nn/range_quantizer.hpp"
#include "sim/nn/wageubn_quantizer.hpp"
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
enum class Role { W, A, G, E, U, M, BN_MEAN, BN_NORM, BN_SCALE, DY, DY_W, W_MASTER };
inline constexpr int kRoleCount = 12;
const char* role_name(Role r);
std::optional<Role> parse_role(std::string_view name);

// Banner et al.'s min/max quantizer as a role: b bits, the range measured per tensor or as the mean of
// per-sample ranges with running estimates (training: r = (1 - w) r + w batch, w = running_new_weight,
// 0.9 in the reference code; inference: r is used). Stochastic rounding adds uniform noise (see
// range_quantizer.hpp).
struct RangeRole {
  int bits = 8;
  bool sample_mean = false;         // false: min/max of the whole tensor
  double running_new_weight = 0.9;  // sample_mean only
  bool true_zero = false;           // zero point: 0 exactly on the grid (range_quantizer.hpp)
  bool operator==(const RangeRole&) const = default;
};

// What a range role with running estimates needs from its caller: the number of samples (first axis),
// whether this is a training step, and the layer's running [min, max] (2 floats, updated in training).
struct RangeContext {
  std::int64_t samples = 1;
  bool training = true;
  float* running = nullptr;
  bool update = true;  // training: fold the batch range into the running estimates
};

// A format and a rounding for one role. Copyable; the quantizer is built once and shared.
class RoleRounding {
 public:
  RoleRounding();  // fp32, rne: the identity
  // Throws formats::FormatError when the format's values are not all exact in float (the engine's
  // arrays are floats) or the rounding is not allowed for the format; `what` prefixes the message.
  RoleRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what = {});

  // The range quantizer with `bits` (1..24); `stochastic` adds noise before rounding (else nearest even).
  static RoleRounding range(const RangeRole& spec, bool stochastic);
  // A WAGEUBN quantizer; `stochastic` only for constant. Throws formats::FormatError for a bad spec.
  static RoleRounding wage(const WageSpec& spec, bool stochastic);
  // A scaled, affine or MX policy of sim::Tensor with `rounding` (an elementwise policy is the plain
  // format constructor). Throws formats::FormatError (prefixed by `what`) for a rounding the element
  // format does not allow or an element format a float cannot hold.
  static RoleRounding tensor_policy(const TensorPolicy& policy, formats::RoundingSpec rounding, const std::string& what = {});

  // The format the rounded values belong to. For range, WAGEUBN and tensor-policy roles it is fp32: the
  // values stay floats (on a grid lo + k s, or codes times a scale), not values of one format.
  const formats::Format& format() const { return format_; }
  // Whether every rounded value is a value of format() with no scale (plain format roles): only then can
  // a layer store the values as codes of format().
  bool values_are_codes() const { return !range_ && !wage_ && !policy_; }
  bool is_policy() const { return policy_.has_value(); }
  const TensorPolicy& policy() const { return *policy_; }
  bool is_range() const { return range_.has_value(); }
  const RangeRole& range_spec() const { return *range_; }
  bool is_wage() const { return wage_.has_value(); }
  const WageSpec& wage_spec() const { return *wage_; }
  // Whether the role keeps running estimates (a 2-float buffer in its layer).
  bool has_running_range() const { return range_ && range_->sample_mean; }
  formats::RoundingSpec rounding() const { return rounding_; }
  bool is_identity() const { return identity_; }
  bool is_stochastic() const { return rounding_.mode == formats::Rounding::sr; }
  // The finite range of the values it produces: the format's (formats/format_limits.hpp); for range and
  // WAGEUBN quantizers, whose range follows the tensor, only the number of codes (limits infinite).
  // Computed once (at construction) and kept.
  const formats::FiniteLimits& finite_limits() const { return limits_; }
  // "fp8_e4m3", "fp8_e4m3 sr(R=8)", "range(bits=8,range=sample_mean) sr" or "constant(bits=8) sr": for logs.
  std::string describe() const;
  // The range quantizer's spelling in configs: "range(bits=8)" or "range(bits=8,range=sample_mean,new_weight=0.9)".
  std::string range_text() const;

  // Rounds x in place; `shape` (numel = x.size(), else x is taken as one row [1, x.size(), 1, 1]) is
  // what a tensor-policy role groups by. For sr, element j uses PhiloxWords(seed).word(j), so splitting the array over
  // `threads` never changes a result. Throws formats::QuantizeError (e.g. NaN into a format without
  // NaN) with `what` prepended, naming the same element whatever the thread count.
  // A range role measures its range from x (NaN or infinity: QuantizeError naming the element); one with
  // running estimates needs `rc` (std::logic_error without it). Returns the power-of-two scale a WAGEUBN
  // shift, flag or constant quantizer used (scaled = false otherwise).
  PowerOfTwoScale apply(std::span<float> x, std::uint64_t seed, const char* what = "", int threads = 1,
                  const RangeContext* rc = nullptr, const Nchw& shape = {}) const;

 private:
  formats::Format format_;
  formats::RoundingSpec rounding_{};
  std::shared_ptr<const formats::Quantizer> quantizer_;
  bool identity_ = true;
  std::optional<RangeRole> range_;
  std::optional<WageSpec> wage_;
  std::optional<TensorPolicy> policy_;
  formats::FiniteLimits limits_;

  void apply_policy(std::span<float> x, std::uint64_t seed, const Nchw& shape) const;
};

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

// fp32 with rne: whether a format is IEEE binary32 itself.
bool is_fp32(const formats::Format& f);

}  // namespace bitsim::sim::nn
