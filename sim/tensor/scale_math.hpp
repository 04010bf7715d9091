// Exact exponent arithmetic on doubles for the tensor scales (internal to sim/). Every result here is
// computed from the IEEE bit pattern with integer operations, never with log2 or pow.
#pragma once

#include "formats/quantizer.hpp"

#include <bit>
#include <cstdint>

namespace bitsim::sim::detail {

// x = mant * 2^exp with mant in [2^63, 2^64): the normalized significand of a positive finite double.
struct Normalized {
  std::uint64_t mant;
  std::int64_t exp;
};

inline Normalized normalize(double x) {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const auto field = static_cast<std::int64_t>((bits >> 52) & 0x7ff);
  const std::uint64_t frac = bits & ((std::uint64_t{1} << 52) - 1);
  std::uint64_t mant = field ? (frac | (std::uint64_t{1} << 52)) : frac;
  std::int64_t exp = field ? field - 1075 : -1074;
  const int shift = std::countl_zero(mant);
  return {mant << shift, exp - shift};
}

// floor(log2(x)) for a positive finite double (subnormals included), exactly.
inline std::int64_t floor_log2(double x) { return normalize(x).exp + 63; }

// ceil(log2(a / b)) for positive finite doubles: the smallest integer k with a <= b * 2^k, exactly.
inline std::int64_t ceil_log2_ratio(double a, double b) {
  const Normalized na = normalize(a), nb = normalize(b);
  // With both significands in [2^63, 2^64), a <= b * 2^(na.exp - nb.exp) iff na.mant <= nb.mant, and
  // one step less never suffices (na.mant > nb.mant / 2).
  return na.exp - nb.exp + (na.mant > nb.mant ? 1 : 0);
}

// The largest finite value of a float or fixed format whose values are exact doubles.
inline double largest_finite(const formats::Quantizer& q) {
  const formats::Format& f = q.format();
  if (f.is<formats::FloatFormat>()) return q.decode(f.as<formats::FloatFormat>().max_finite_index());
  const auto& fx = f.as<formats::FixedFormat>();
  const int magnitude_bits = fx.is_signed ? fx.width() - 1 : fx.width();
  return q.decode((std::uint64_t{1} << magnitude_bits) - 1);
}

}  // namespace bitsim::sim::detail
