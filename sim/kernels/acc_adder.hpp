// The exact kernel's accumulator step, shared by the GEMM's exact kernel (gemm.cpp) and the aligned
// accumulation's fast path (gemm_aligned.cpp): round_acc(s + p) from two exact doubles through TwoSum
// and round to odd, and gemm.md rule 7's tree over such steps. Internal to sim/kernels.
#pragma once

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/rounding.hpp"
#include "sim/kernels/exact_double.hpp"

#include <cmath>
#include <cstddef>
#include <limits>

namespace bitsim::sim::detail {

using formats::FixedFormat;
using formats::Format;
using formats::Quantizer;
using formats::Rounding;

// Thrown by the fast kernels when an element is outside their proof: the caller answers it from the
// golden reference.
struct NeedsReference {};

class AccAdder {
 public:
  AccAdder(const Format& acc, Rounding mode) : q_(acc, {mode, 32}), mode_(mode) {
    if (acc.is<FixedFormat>()) {
      const auto& x = acc.as<FixedFormat>();
      fixed_ = true;
      wrap_ = x.overflow == formats::FixedOverflow::wrap;
      safe_log2_ = 50 - x.f;  // below 2^(51-F) a double has >= 2 bits beyond the fixed grid
    }
  }
  // round_acc(s + p) for values of the accumulator (s) and products (p), both exact doubles.
  double add_round(double s, double p) const {
    double v;
    if (!std::isfinite(s) || !std::isfinite(p)) {
      v = s + p;  // IEEE: NaN, or the infinity (Inf + -Inf = NaN), as gemm.md rule 3 says
    } else {
      const double hi = s + p;
      if (std::isinf(hi)) {
        v = std::copysign(std::numeric_limits<double>::max(), hi);  // beyond every format that fits double
      } else {
        const double lo = two_sum(s, p).lo;
        if (lo != 0) v = round_to_odd(hi, lo);
        else v = hi == 0 ? zero_sum(hi, s, p, mode_) : hi;
      }
    }
    return round_odd(v);
  }
  // round_acc(x) for x an exact double, or the round-to-odd double of an exact value (see
  // exact_double.hpp): a wrapping fixed-point accumulator needs the exact integer bits, so values
  // beyond 2^(50-F) are left to the golden reference.
  double round_odd(double v) const {
    if (fixed_ && wrap_ && std::isfinite(v) && v != 0 && std::ilogb(v) > safe_log2_) throw NeedsReference{};
    return q_.quantize(v).value;
  }
  double round(double p) const { return q_.quantize(p).value; }

 private:
  Quantizer q_;
  Rounding mode_;
  bool fixed_ = false, wrap_ = false;
  int safe_log2_ = 0;
};

struct Pairwise {
  const AccAdder& add;
  const double* p;
  double tree(std::size_t lo, std::size_t n) const {  // gemm.md rule 7
    if (n == 1) return p[lo];
    std::size_t h = 1;
    while (h * 2 < n) h *= 2;
    return add.add_round(tree(lo, h), tree(lo + h, n - h));
  }
};

}  // namespace bitsim::sim::detail
