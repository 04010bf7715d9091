// The element loops of the WAGEUBN quantizers (wageubn_quantizer.cpp) on SIMD vectors, compiled once
// per target by Highway and dispatched at run time like formats/' array loops (BITSIM_SIMD applies).
// Each lane does the float operations of the scalar reference loop in wageubn_quantizer.cpp, in the
// same order and with the same comparisons (so the same signs of zero and the same ties), which
// tests/test_wageubn_quantizers.cpp checks bit for bit on every target. Every factor passed in is a
// power of two that is a normal float. Internal to sim/methods.
#pragma once

#include <cstdint>

namespace bitsim::sim::methods::simd {

// The largest |x[i]| as a bit pattern (sign cleared) over x[0, n): >= 0x7f800000 when some element
// is NaN or infinite, else the bits of max|x[i]|.
std::uint32_t wage_max_abs_bits(const float* x, std::int64_t n);

// direct: x[i] = clamp(nearbyint(x[i] * up) * down, -hi, hi). Returns whether some x[i] * up
// overflowed to an infinity (the caller reports it).
bool wage_direct_loop(float* x, std::int64_t n, float up, float down, float hi);

// shift: x[i] = clamp(nearbyint(x[i] * to_unit * up) * down, -hi, hi) * back.
void wage_shift_loop(float* x, std::int64_t n, float to_unit, float up, float down, float hi, float back);

// flag: u = x[i] * to_units, a = |u|; x[i] = copysign(a >= 1 ? min(nearbyint(a), top)
// : min(nearbyint(a * up) * down, 1), u) * back.
void wage_flag_loop(float* x, std::int64_t n, float to_units, float up, float down, float top, float back);

// constant: t = nearbyint(x[i] * to_range * 2^31) * 2^-31, a = |t|; r = floor(a) + (words[i] <
// frac(a) 2^32) when words is not null (stochastic), else nearbyint(a); x[i] = copysign(min(r, top),
// t) * to_g.
void wage_constant_loop(float* x, std::int64_t n, const std::uint32_t* words, float to_range, float top, float to_g);

}  // namespace bitsim::sim::methods::simd
