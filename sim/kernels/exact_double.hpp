// Exact double arithmetic shared by the GEMM's exact kernel and the element-wise ops: the exact sum
// of two doubles as a (rounded, error) pair, the round-to-odd that lets one later rounding to a
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

// The exact zero sum x + y (hi == 0, lo == 0) with gemm.md rule 3's sign: -0 only if both addends are
// -0, or under rdn unless both are +0. (Hardware addition under rne already gives the first part.)
inline double zero_sum(double hi, double x, double y, formats::Rounding mode) {
  if (mode == formats::Rounding::rdn && !(x == 0 && !std::signbit(x) && y == 0 && !std::signbit(y))) return -0.0;
  return hi;
}

}  // namespace bitsim::sim::detail
