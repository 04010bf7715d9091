// Banner et al.'s min/max quantizer (range_quantizer.hpp) as a rounding policy of any training role:
// b bits, the range measured per tensor, or as the mean of per-sample ranges with running estimates
// (training: r = (1 - w) r + w batch, w = new_weight, 0.9 in the reference code; inference: r is used).
// Stochastic rounding adds uniform noise of 24 bits (range_quantizer.hpp).
//
// With sample_mean, arithmetic = double (the default) takes the per-sample means and the running update
// in double and rounds the running range to float once per step; arithmetic = float32 rounds every
// operation to float, in sample order, as the reference's float32 tensors do (its update is
// running.mul_(1 - w).add_(batch * w)): r = fl(fl(r * fl(1 - w)) + fl(batch * fl(w))).
//
// Config spelling (sim/methods/rounding_policies.cpp registers it as "range"):
//   range(bits=B[,range=tensor|sample_mean][,new_weight=W][,true_zero=yes|no][,arithmetic=double|float32])
//   { policy = "range", bits = B, range = "sample_mean", new_weight = W, true_zero = true, rounding = "sr" }
// (older configs write the table as { quantizer = "range", ... }, which means the same).
#pragma once

#include "sim/methods/banner2018/range_quantizer.hpp"
#include "sim/nn/role.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include "formats/spec_arguments.hpp"

namespace bitsim::sim::methods {

struct RangeRole {
  int bits = 8;
  bool sample_mean = false;         // false: min/max of the whole tensor
  double running_new_weight = 0.9;  // sample_mean only
  bool true_zero = false;           // zero point: 0 exactly on the grid (range_quantizer.hpp)
  RangeArithmetic arithmetic = RangeArithmetic::f64;  // sample_mean only: means and running update
  bool operator==(const RangeRole&) const = default;
  // The config spelling: "range(bits=8)", "range(bits=8,range=sample_mean,new_weight=0.9)",
  // "range(bits=12,true_zero=yes)", "range(bits=8,range=sample_mean,new_weight=0.9,arithmetic=float32)".
  std::string text() const;
};

// The policy with `stochastic` noise (else nearest even). Throws sim::PolicyError (a
// formats::FormatError) naming the key for bits outside 1..24, new_weight outside [0, 1], or float32
// arithmetic without sample_mean (it would change nothing: a tensor's min and max are floats).
nn::RoleRounding range_rounding(const RangeRole& spec, bool stochastic);
// The same from the constructor's arguments as text (bits, range, new_weight, true_zero, arithmetic); rounding rne
// or sr. Throws sim::PolicyError naming the key.
nn::RoleRounding range_rounding_from(formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding);

}  // namespace bitsim::sim::methods
