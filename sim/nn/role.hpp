// Tensor roles and their rounding: the one mechanism by which a training scheme chooses number formats.
//
// Roles (named as in WAGEUBN, Yang et al. 2019, plus the batch-norm internals):
//   W   weights as used by forward and backward (the rounded copy of the stored weights)
//   A   activations: every layer's forward output
//   G   weight gradients (dL/dW, dL/dbias, dL/dgamma, dL/dbeta)
//   E   errors: every layer's input gradient dL/dx (what is propagated to the previous layer)
//   U   the weight update (learning rate times the optimizer's direction)
//   M   the momentum buffer
//   BN_STAT  batch-norm statistics as used (the batch mean and 1/sqrt(var + eps), per channel)
//   BN_NORM  the normalized activation x_hat = (x - mean) / sqrt(var + eps) before the affine step
//            (Graham 2017's N(x)); it is what the backward pass reads, so it is also what is stored.
// Each role of each layer has a RoleRounding: a format, a rounding mode (sr with R bits too) and nothing
// else. fp32 with rne is the identity on floats and costs nothing.
//
// Stochastic rounding is reproducible: the words of one rounding site come from Philox4x32-10 keyed by
// site_seed(run seed, step, site), element j using word j. A site is (node index, role, slot), so two
// different tensors never share words and a thread split never changes which word an element uses.
#pragma once

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/rounding.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bitsim::sim::nn {

enum class Role { W, A, G, E, U, M, BN_STAT, BN_NORM };
inline constexpr int kRoleCount = 8;
const char* role_name(Role r);
std::optional<Role> parse_role(std::string_view name);

// A format and a rounding for one role. Copyable; the quantizer is built once and shared.
class RoleRounding {
 public:
  RoleRounding();  // fp32, rne: the identity
  // Throws std::invalid_argument when the format's values are not all exact in float (the engine's
  // arrays are floats) or the rounding is not allowed for the format; `what` prefixes the message.
  RoleRounding(const formats::Format& format, formats::RoundingSpec rounding, const std::string& what = {});

  const formats::Format& format() const { return format_; }
  formats::RoundingSpec rounding() const { return rounding_; }
  bool is_identity() const { return identity_; }
  bool is_stochastic() const { return rounding_.mode == formats::Rounding::sr; }
  // "fp8_e4m3" or "fp8_e4m3 sr(R=8)": for logs and the resolved config.
  std::string describe() const;

  // Rounds x in place. For sr, element j uses PhiloxWords(seed).word(j), so splitting the array over
  // `threads` never changes a result. Throws formats::QuantizeError (e.g. NaN into a format without
  // NaN) with `what` prepended, naming the same element whatever the thread count.
  void apply(std::span<float> x, std::uint64_t seed, const char* what = "", int threads = 1) const;

 private:
  formats::Format format_;
  formats::RoundingSpec rounding_{};
  std::shared_ptr<const formats::Quantizer> quantizer_;
  bool identity_ = true;
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
