// The element loops of the min/max quantizer (range_quantizer.cpp) on SIMD vectors, compiled once per
// target by Highway and dispatched at run time (BITSIM_SIMD applies). Each computes what the scalar
// reference loop of range_quantizer.cpp computes, bit for bit: the same float operations per element
// in the same order, and the min/max scan in the same 16 running lanes with the same comparisons, so
// even the sign of a zero minimum is the reference's. tests/test_banner2018.cpp checks this on every
// target. Internal to sim/methods.
#pragma once

#include <cstdint>

namespace bitsim::sim::methods::simd {

// Min and max of p[0, n) and whether every element is finite. Element i is compared into running lane
// i mod 16 (lo = v < lo ? v : lo, hi = v > hi ? v : hi, from +inf and -inf), then the lanes are
// reduced in order 0..15 with std::min and std::max.
struct RangeScan {
  float lo, hi;
  bool finite;
};
RangeScan range_scan(const float* p, std::int64_t n);

// p[i] = round(clamp((p[i] - lo) / s + u_i, 0, qmax)) * s + lo, with u_i the noise of words[i] when
// words is not null (no addition otherwise); round: to nearest, ties to even.
void range_grid_loop(float* p, std::int64_t n, const std::uint32_t* words, float lo, float s, float qmax);

// The zero-point variant: p[i] = (round(clamp(p[i] / s + z + u_i, 0, qmax)) - z) * s.
void range_zero_point_loop(float* p, std::int64_t n, const std::uint32_t* words, float s, float z, float qmax);

}  // namespace bitsim::sim::methods::simd
