// Exact double arithmetic shared by the GEMM's kernels and the element-wise ops: a double's integer
// significand and exponent, the exact sum of two doubles as a (rounded, error) pair, the round-to-odd that lets one later rounding to a
// coarser format be the correct rounding of that exact sum, and gemm.md rule 3's sign of a zero sum.
// Internal to sim/.
#pragma once

#include "formats/rounding.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace bitsim::sim::detail {

// x + y = hi + lo exactly, hi = fl(x + y) (Knuth's TwoSum; any magnitudes, finite hi).
struct TwoSum {
  double hi, lo;
};
inline TwoSum two_sum(double x, double y) {
  const double hi = x + y;
  const double z = hi - x;
  return {hi, (x - (hi - z)) + (y - z)};
}

// x = hi + lo exactly (hi = fl(x) normal, lo != 0, |lo| <= ulp(hi)/2): the double nearest x toward zero
// with its last bit forced to 1 (round to odd). It lies strictly between the same two neighbours of
// every coarser grid as x does, and is never on a midpoint of a grid at least 2 bits coarser, so
// rounding it to any format of at most 51 significant bits gives the rounding of x in every mode
// (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums"); the same holds for sr's
// floor(t * 2^R) when the 2^-R sub-grid is >= 2 bits coarser.
inline double round_to_odd(double hi, double lo) {
  std::uint64_t bits;
  std::memcpy(&bits, &hi, 8);
  if (std::signbit(lo) != std::signbit(hi)) bits -= 1;  // one ulp toward zero (magnitude bits)
  bits |= 1;
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

// A finite double's magnitude as an integer significand and exponent, |x| = sig x 2^exp: the stored
// fraction with the implicit bit (sig in [2^52, 2^53)), or a subnormal's fraction alone (exp -1074).
struct DoubleParts {
  std::uint64_t sig;
  int exp;
};
inline DoubleParts double_parts(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, 8);
  const int field = static_cast<int>((u >> 52) & 0x7FF);
  const std::uint64_t frac = u & 0xFFFFFFFFFFFFFull;
  return field ? DoubleParts{frac | (std::uint64_t{1} << 52), field - 1075} : DoubleParts{frac, -1074};
}

// The exact zero sum x + y (hi == 0, lo == 0) with gemm.md rule 3's sign: -0 only if both addends are
// -0, or under rdn unless both are +0. (Hardware addition under rne already gives the first part.)
inline double zero_sum(double hi, double x, double y, formats::Rounding mode) {
  if (mode == formats::Rounding::rdn && !(x == 0 && !std::signbit(x) && y == 0 && !std::signbit(y))) return -0.0;
  return hi;
}

}  // namespace bitsim::sim::detail
