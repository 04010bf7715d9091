// Amax scaling recipes as rounding policies of any role: per-tensor "current" scaling (the scale comes
// from this tensor's amax) and "delayed" scaling (from the amax history of the previous H roundings of
// the same site), the recipes of NVIDIA's Transformer Engine (Float8CurrentScaling, DelayedScaling) and
// of Micikevicius et al. 2022, "FP8 formats for deep learning", with the scale's own format explicit.
//
// For a scale multiplier s (x is multiplied by s before it is rounded, as Transformer Engine does):
//   y_i = fl32(x_i * s)                      one float multiplication (exact for a power of two s unless
//                                            the product leaves float's normal range)
//   q_i = round_F(y_i)                       the element rounding: any mode, sr included; F with
//                                            saturation (|y_i| beyond L gives +-L, an infinite x too,
//                                            as Transformer Engine's saturating casts do; NaN stays NaN)
//   value_i = fl32(q_i * s_inv)              s_inv = fl32(1 / s) for fp32 scales (Transformer Engine's
//                                            scale_inv), exactly 2^-k for power-of-two scales
// and s from a reference amax a (the largest |x| over finite elements; NaN and infinities are left out),
// L the largest finite value of F, M the margin:
//   fp32:  s = fl32(L / a) * 2^-M            in float, clamped to [smallest positive, largest] float
//   pow2:  s = 2^(k - M), k the largest integer with a * 2^k <= L (exact)
//   e8m0:  as pow2, the exponent clamped to E8M0's range [-127, 127]
//   a = 0 (an all-zero tensor, or an empty history): s = 1.
// current:  a = this tensor's amax; with axis = N, one amax and scale per index of axis N of the
//           role's NCHW tensor (per-channel scaling: axis 1 for activations and errors, 0 for a
//           weight's output channels).
// delayed:  a = the largest (amax = max) or the newest (amax = most_recent) of the amaxes the site's
//           previous H updating roundings recorded; after rounding, this tensor's amax is recorded
//           (training roundings that update running state only: not evaluation, not micro-batches
//           after the first). The history starts at zeros, so the first step runs with s = 1, as in
//           Transformer Engine. A site is (layer, role, slot): a layer's weight and bias keep separate
//           histories. The history is the role's state in checkpoints ("<ROLE>.amax_history").
//
// Config spellings (sim/methods/rounding_policies.cpp registers both):
//   current(format=F[,margin=M][,scale=fp32|pow2|e8m0][,axis=N])
//   delayed(format=F,history=H[,margin=M][,scale=fp32|pow2|e8m0][,amax=max|most_recent])
#pragma once

#include "formats/format.hpp"
#include "formats/spec_arguments.hpp"
#include "sim/nn/role.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace bitsim::sim::methods {

enum class ScaleFormat { fp32, pow2, e8m0 };
enum class AmaxOf { max, most_recent };

struct AmaxScaling {
  formats::Format format;       // the element format F
  int history = 0;              // 0: current scaling; else the delayed recipe's history length H
  int margin = 0;               // M >= 0: the scale is 2^M times smaller than the one that just fits
  ScaleFormat scale = ScaleFormat::fp32;
  AmaxOf amax = AmaxOf::max;    // delayed only
  std::optional<int> axis;      // current only: one scale per index of this NCHW axis (0..3)
  // The config constructor: "current" (history 0) or "delayed".
  const char* constructor() const { return history == 0 ? "current" : "delayed"; }
  // The config spelling: "current(format=fp8_e4m3)", "delayed(format=fp8_e5m2,history=16,scale=pow2)".
  std::string text() const;
};

inline constexpr int kMaxAmaxHistory = 1024;  // Transformer Engine's default length
inline constexpr int kMaxMargin = 64;
inline constexpr int kAmaxSlots = 16;          // slots per layer and role (site_id keeps 4 bits)

// A scale multiplier as the recipe stores it: the float s, and for power-of-two scales its exponent.
struct AmaxScale {
  float multiplier = 1;
  float inverse = 1;      // what codes are multiplied by to decode (s_inv)
  bool power_of_two = true;
  int exponent = 0;       // s = 2^exponent when power_of_two
};

// The scale for reference amax `amax` (finite, >= 0) into a format whose largest finite value is
// `largest` (a positive float value).
AmaxScale amax_scale(float amax, float largest, int margin, ScaleFormat format);

// The policy, with `rounding` for the element rounding. Throws sim::PolicyError naming the key for a
// history outside 0..1024, a margin outside 0..64, or an element format a float cannot hold.
nn::RoleRounding amax_rounding(const AmaxScaling& spec, formats::RoundingSpec rounding);
// From the constructor's arguments: `current` (no history key) or `delayed` (history required).
nn::RoleRounding current_scaling_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding);
nn::RoleRounding delayed_scaling_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding);

}  // namespace bitsim::sim::methods
