// The fast path of the aligned accumulation (docs/spec/gemm.md rule 11) on exact doubles: each step's
// terms cut to integers on the grid of the largest term's exponent and added as a 128-bit integer, the
// sum rounded once to the accumulator (through round to odd when it has more than 53 bits). The golden
// reference (gemm_reference.cpp) computes the same on rationals; tests/test_gemm_aligned.cpp compares
// them. Internal to sim/kernels.
#pragma once

#include "sim/kernels/acc_adder.hpp"
#include "sim/kernels/gemm.hpp"

#include <cstdint>
#include <optional>

namespace bitsim::sim::detail {

class AlignedAdder {
 public:
  // c.order == aligned with an accumulator, and supports(c).
  explicit AlignedAdder(const GemmConfig& c);

  // Whether the parameters are within this path's proof: width at most 58 bits, an accumulator of at
  // most 51 significant bits whose values are doubles, at most 2^40 products per group. (gemm.cpp checks
  // that the inputs and products are exact doubles.)
  static bool supports(const GemmConfig& c);

  // The alignment exponent of the product a x b = p (exact doubles; p rounded to the product format
  // when there is one), as rule 11 defines it for the configured `lead`.
  int product_exponent(double a, double b, double p) const;

  // The accumulated value of one element (a value of the accumulator format) from its K products and
  // their alignment exponents. Throws NeedsReference outside the proof (the caller asks the golden
  // reference), formats::QuantizeError for a value the accumulator cannot take.
  double accumulate(const double* p, const int* lead, std::int64_t K) const;

 private:
  struct Sum;
  Sum aligned_sum(const double* t, const int* lead, std::size_t n) const;
  int acc_exponent(double s) const;

  AlignedAccumulation al_;
  Rounding mode_;
  AccAdder adder_;
  // The smallest exponent a float value of each format has (emin) under lead=exponents; fixed point:
  // none (the value's own).
  std::optional<int> emin_a_, emin_b_, emin_product_, emin_acc_;
  bool product_rounded_ = false;
};

}  // namespace bitsim::sim::detail
