// The quantizer's array loops: rounding a whole array of float or double values to a float, fixed or
// Graham format, vector by vector, with the scalar kernels for the tail. Each is compiled once per SIMD
// target (quantize_loops.cpp) and dispatched at run time to the best one the CPU has (see
// formats/simd_target.hpp); every target gives the same bits. Internal to formats/.
#pragma once

#include "formats/fixed_kernel.hpp"
#include "formats/float_kernel.hpp"
#include "formats/graham_tables.hpp"
#include "formats/rounding.hpp"

#include <cstddef>
#include <cstdint>

namespace bitsim::formats::detail {

// Graham tables with more entries than this are searched per element (binary search), not by lanes.
inline constexpr std::size_t kGrahamLanesMax = 64;

// Calls fn.template operator()<MODE>() with the rounding mode as a compile-time constant, so the
// per-element kernels are specialised once per call instead of branching per element.
template <class Fn> decltype(auto) with_mode(Rounding mode, Fn&& fn) {
  switch (mode) {
    case Rounding::rne: return fn.template operator()<Rounding::rne>();
    case Rounding::rna: return fn.template operator()<Rounding::rna>();
    case Rounding::rtz: return fn.template operator()<Rounding::rtz>();
    case Rounding::rup: return fn.template operator()<Rounding::rup>();
    case Rounding::rdn: return fn.template operator()<Rounding::rdn>();
    case Rounding::sr: break;
  }
  return fn.template operator()<Rounding::sr>();
}

// out[i] = in[i] rounded to the float format of k (words: one random word per element under sr, else
// unused). Returns whether a NaN met a format without NaN.
bool float_values(const FloatConsts<float>& k, Rounding mode, const float* in, float* out, const std::uint32_t* words,
                  std::size_t n);
bool float_values(const FloatConsts<double>& k, Rounding mode, const double* in, double* out,
                  const std::uint32_t* words, std::size_t n);

// out[i] = in[i] rounded to the fixed-point format of k, times scale (2^-f). Elements the format
// cannot take (NaN; an infinity under wrap) are left NaN and make the result true.
bool fixed_values(const FixedConsts& k, float scale, Rounding mode, const float* in, float* out,
                  const std::uint32_t* words, std::size_t n);
bool fixed_values(const FixedConsts& k, double scale, Rounding mode, const double* in, double* out,
                  const std::uint32_t* words, std::size_t n);

// The same two under stochastic rounding with the Philox words of `seed` (random_words.hpp), element i
// taking word first + i. The words are generated a chunk at a time right before their elements are
// rounded, which is faster than generating them in a pass of their own; the results are the same.
bool float_values_sr(const FloatConsts<float>& k, std::uint64_t seed, std::uint64_t first, const float* in, float* out,
                     std::size_t n);
bool float_values_sr(const FloatConsts<double>& k, std::uint64_t seed, std::uint64_t first, const double* in, double* out,
                     std::size_t n);
bool fixed_values_sr(const FixedConsts& k, float scale, std::uint64_t seed, std::uint64_t first, const float* in,
                     float* out, std::size_t n);
bool fixed_values_sr(const FixedConsts& k, double scale, std::uint64_t seed, std::uint64_t first, const double* in,
                     double* out, std::size_t n);

// out[i] = the Graham format's value for in[i]; returns whether a NaN was met (left NaN).
bool graham_values(const GrahamTable<float>& t, const float* in, float* out, std::size_t n);
bool graham_values(const GrahamTable<double>& t, const double* in, double* out, std::size_t n);

// The codes of the whole vectors at the front of `in` (a table of at most kGrahamLanesMax entries).
// Returns how many elements it coded; `bad` tells whether one of them has no code (NaN, or +-0 in
// a format acting on |x|), in which case the caller recodes the array element by element to name it.
std::size_t graham_codes(const GrahamTable<float>& t, const float* in, std::uint64_t* codes, std::size_t n, bool& bad);

}  // namespace bitsim::formats::detail
