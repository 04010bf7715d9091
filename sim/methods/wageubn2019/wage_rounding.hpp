// WAGEUBN's quantizers (wageubn_quantizer.hpp) as rounding policies of any training role: direct,
// shift, flag and constant, each registered under its own name in sim/methods/rounding_policies.cpp.
//
// Config spelling: "direct(bits=8)", "direct(bits=8,clip=unit)", "shift(bits=8[,clip=pm1])",
// "flag(bits=8)", "constant(bits=8[,const_bits=15][,gscale=128])", or the table form
// { policy = "constant", bits = 8, gscale = 128, rounding = "sr" }. Rounding is rne or sr, and sr only
// for constant, whose default it is (one whole 32-bit Philox word per element).
#pragma once

#include "sim/methods/wageubn2019/wageubn_quantizer.hpp"
#include "sim/nn/role.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include "formats/spec_arguments.hpp"

namespace bitsim::sim::methods {

// The policy; `stochastic` only for constant. Throws formats::FormatError for a bad spec.
nn::RoleRounding wage_rounding(const WageSpec& spec, bool stochastic);
// The same from the constructor's arguments as text (bits; clip for direct and shift; const_bits and
// gscale for constant). Throws sim::PolicyError naming the key, formats::FormatError for a bad spec.
nn::RoleRounding wage_rounding_from(WageKind kind, formats::SpecArguments<PolicyError>& args, formats::RoundingSpec rounding);
// WAGEUBN's rounded learning rate (optimizer.lr_bits = k > 0): Q(float(lr), k) clipped to
// +-(1 - 2^(1-k)), round to nearest even (k = 10: multiples of 2^-9); lr itself when k is 0. The trainer
// passes it to nn::sgd_step.
double wageubn_learning_rate(double lr, int bits);
// The spec of a WAGEUBN role, or nullptr when the role is not one.
const WageSpec* wage_spec_of(const nn::RoleRounding& role);

}  // namespace bitsim::sim::methods
