// The quantizer's array loops, compiled once per SIMD target by Highway's foreach_target (this file
// includes itself once per target) and dispatched by HWY_DYNAMIC_DISPATCH; see quantize_loops.hpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "formats/quantize_loops.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "formats/philox_simd-inl.hpp"
#include "formats/quantize_loops.hpp"
#include "formats/simd_kernels-inl.hpp"
#include "formats/simd_target.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace bitsim::formats::detail::HWY_NAMESPACE {

// The general lane kernel out of line: the vectors that need it are rare (a lane below 2^emin), and
// inlined it would crowd out the registers holding the common case's constants.
template <class T, Rounding MODE>
[[gnu::noinline]] typename Lanes<T>::S float_lanes_general(const FloatConsts<T>& k, const T* in, T* out,
                                                          const std::uint32_t* words) {
  return round_float_lanes<T, MODE>(k, in, out, words);
}

// How many whole elements p lies past the vector boundary at or before it: 0 on a boundary, and for
// a p not aligned to its own type (no element of it ever reaches a boundary). The loops' head below
// and the stochastic-rounding chunks (with_philox_chunks) both cut at boundaries with it.
template <class T> std::size_t elements_past_vector_boundary(const T* p) {
  const std::size_t offset = reinterpret_cast<std::uintptr_t>(p) % kVectorBytes;
  return offset % sizeof(T) == 0 ? offset / sizeof(T) : 0;
}

// How many elements of `out` come before the first one on a vector boundary (at most n). The loops
// round those one by one, so that the vector stores are aligned: large arrays come from mmap at 16 bytes
// past a page, where every 64-byte store would straddle two cache lines (about 20% slower on a
// memory-bound AVX-512 loop, measured against CPFloat, whose compiled loops align the same way).
template <class T> std::size_t elements_before_vector_boundary(const T* out, std::size_t n) {
  const std::size_t past = elements_past_vector_boundary(out);
  return past == 0 ? 0 : std::min(n, kVectorBytes / sizeof(T) - past);
}

template <class T, Rounding MODE>
bool float_loop(const FloatConsts<T>& consts, const T* in, T* out, const std::uint32_t* words, std::size_t n) {
  const FloatConsts<T> k = consts;  // a local copy: its fields stay in registers
  constexpr std::size_t L = Lanes<T>::L;
  typename Lanes<T>::S nan_lanes{};
  bool nan_seen = false;
  auto one = [&](std::size_t i) {
    const FloatRounded<T> r = round_float<T, MODE>(k, in[i], MODE == Rounding::sr ? words[i] : 0u);
    out[i] = from_bits<T>(r.bits);
    nan_seen |= r.nan_input;
  };
  std::size_t i = 0;
  // Unsigned formats (negative inputs give +0) have no lane kernel: element by element.
  for (const std::size_t head = k.unsigned_format ? n : elements_before_vector_boundary(out, n); i < head; ++i) one(i);
  if (k.whole_range) {
    const WholeRangeLanes<T, MODE> round(k);
    for (; i + L <= n; i += L) nan_lanes |= round(in + i, out + i, MODE == Rounding::sr ? words + i : nullptr);
  } else if (!k.m_is_zero) {
    const NormalRangeLanes<T, MODE> round(k);
    for (; i + L <= n; i += L) {
      const std::uint32_t* w = MODE == Rounding::sr ? words + i : nullptr;
      if (!round(in + i, out + i, w, nan_lanes)) nan_lanes |= float_lanes_general<T, MODE>(k, in + i, out + i, w);
    }
  } else {
    for (; i + L <= n; i += L) nan_lanes |= round_float_lanes<T, MODE>(k, in + i, out + i, MODE == Rounding::sr ? words + i : nullptr);
  }
  for (int l = 0; l < static_cast<int>(L); ++l) nan_seen |= nan_lanes[l] != 0;
  for (; i < n; ++i) one(i);
  return nan_seen && !k.has_nan;
}

template <class T, Rounding MODE>
bool fixed_loop(const FixedConsts& consts, T scale, const T* in, T* out, const std::uint32_t* words, std::size_t n) {
  const FixedConsts k = consts;
  const T unscale = std::ldexp(T(1), k.F);  // once here, not a libm call per vector
  constexpr std::size_t L = Lanes<T>::L;
  typename Lanes<T>::S bad_lanes{};
  bool bad = false;
  auto one = [&](std::size_t i) {
    const FixedRounded r = round_fixed<T, MODE>(k, in[i], MODE == Rounding::sr ? words[i] : 0u);
    // Bad elements (NaN; Inf under wrap) are marked NaN for the caller's error scan.
    const bool is_bad = r.nan_input | r.inf_wrap_error;
    out[i] = is_bad ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(r.value_code) * scale;
    bad |= is_bad;
  };
  std::size_t i = 0;
  for (const std::size_t head = elements_before_vector_boundary(out, n); i < head; ++i) one(i);
  for (; i + L <= n; i += L) bad_lanes |= round_fixed_lanes<T, MODE>(k, unscale, scale, in + i, out + i, MODE == Rounding::sr ? words + i : nullptr);
  for (int l = 0; l < static_cast<int>(L); ++l) bad |= bad_lanes[l] != 0;
  for (; i < n; ++i) one(i);
  return bad;
}

// Stochastic rounding with the Philox words of `seed`, element i taking word first + i: the words are
// generated a chunk at a time into a buffer that stays in L1, and the chunk's elements are rounded
// right after, so that the words never make a round trip through memory. Chunks end on vector
// boundaries of `out` (but the last), so that each is rounded by whole aligned vectors.
// round(i, m, words) rounds elements i .. i+m-1.
template <class T, class Round>
bool with_philox_chunks(std::uint64_t seed, std::uint64_t first, const T* out, std::size_t n, Round&& round) {
  constexpr std::size_t kGroups = PhiloxVectors::kWords >= 256 ? 1 : 256 / PhiloxVectors::kWords;
  constexpr std::size_t kChunk = kGroups * PhiloxVectors::kWords;  // words per chunk, a multiple of 4
  HWY_ALIGN std::uint32_t words[kChunk];
  const PhiloxVectors gen(static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  bool bad = false;
  for (std::size_t i = 0; i < n;) {
    const std::uint64_t block = (first + i) / 4;
    const std::size_t skip = (first + i) % 4;  // words of the chunk's first block that come before element i
    for (std::size_t g = 0; g < kGroups; ++g) gen.generate(block + g * (PhiloxVectors::kWords / 4), words + g * PhiloxVectors::kWords);
    std::size_t m = std::min(kChunk - skip, n - i);
    if (i + m < n) {  // end on the vector boundary at or before out + i + m
      const std::size_t past = elements_past_vector_boundary(out + i + m);
      if (past < m) m -= past;
    }
    bad |= round(i, m, words + skip);
    i += m;
  }
  return bad;
}

template <class T> T graham_value(const GrahamTable<T>& t, T x) {
  if (std::isnan(x) || (t.on_magnitude && x == 0)) return x;  // NaN is reported; +-0 has no code
  std::int64_t idx;
  if (std::isinf(x)) idx = (t.on_magnitude || x > 0) ? t.hi : t.lo;
  else idx = graham_index(t, x).n;
  const T v = t.value[static_cast<std::size_t>(idx - t.lo)];
  return (t.on_magnitude && std::signbit(x)) ? -v : v;
}

template <class T> bool graham_loop(const GrahamTable<T>& t, const T* in, T* out, std::size_t n) {
  constexpr std::size_t L = Lanes<T>::L;
  std::size_t i = 0;
  bool bad = false;
  if (t.value.size() <= kGrahamLanesMax) {
    typename Lanes<T>::S nan_lanes{};
    for (; i + L <= n; i += L) nan_lanes |= graham_lanes<T>(t, in + i, out + i);
    for (int l = 0; l < static_cast<int>(L); ++l) bad |= nan_lanes[l] != 0;
  }
  for (; i < n; ++i) {
    bad |= std::isnan(in[i]);
    out[i] = graham_value(t, in[i]);
  }
  return bad;
}

// The exported entry points: plain functions (Highway's tables hold one pointer per target).
bool FloatValuesF(const FloatConsts<float>& k, Rounding mode, const float* in, float* out, const std::uint32_t* w, std::size_t n) {
  return with_mode(mode, [&]<Rounding MODE>() { return float_loop<float, MODE>(k, in, out, w, n); });
}
bool FloatValuesD(const FloatConsts<double>& k, Rounding mode, const double* in, double* out, const std::uint32_t* w, std::size_t n) {
  return with_mode(mode, [&]<Rounding MODE>() { return float_loop<double, MODE>(k, in, out, w, n); });
}
bool FixedValuesF(const FixedConsts& k, float scale, Rounding mode, const float* in, float* out, const std::uint32_t* w, std::size_t n) {
  return with_mode(mode, [&]<Rounding MODE>() { return fixed_loop<float, MODE>(k, scale, in, out, w, n); });
}
bool FixedValuesD(const FixedConsts& k, double scale, Rounding mode, const double* in, double* out, const std::uint32_t* w,
                  std::size_t n) {
  return with_mode(mode, [&]<Rounding MODE>() { return fixed_loop<double, MODE>(k, scale, in, out, w, n); });
}
bool FloatValuesSrF(const FloatConsts<float>& k, std::uint64_t seed, std::uint64_t first, const float* in, float* out,
                    std::size_t n) {
  return with_philox_chunks(seed, first, out, n, [&](std::size_t i, std::size_t m, const std::uint32_t* w) {
    return float_loop<float, Rounding::sr>(k, in + i, out + i, w, m);
  });
}
bool FloatValuesSrD(const FloatConsts<double>& k, std::uint64_t seed, std::uint64_t first, const double* in, double* out,
                    std::size_t n) {
  return with_philox_chunks(seed, first, out, n, [&](std::size_t i, std::size_t m, const std::uint32_t* w) {
    return float_loop<double, Rounding::sr>(k, in + i, out + i, w, m);
  });
}
bool FixedValuesSrF(const FixedConsts& k, float scale, std::uint64_t seed, std::uint64_t first, const float* in, float* out,
                    std::size_t n) {
  return with_philox_chunks(seed, first, out, n, [&](std::size_t i, std::size_t m, const std::uint32_t* w) {
    return fixed_loop<float, Rounding::sr>(k, scale, in + i, out + i, w, m);
  });
}
bool FixedValuesSrD(const FixedConsts& k, double scale, std::uint64_t seed, std::uint64_t first, const double* in,
                    double* out, std::size_t n) {
  return with_philox_chunks(seed, first, out, n, [&](std::size_t i, std::size_t m, const std::uint32_t* w) {
    return fixed_loop<double, Rounding::sr>(k, scale, in + i, out + i, w, m);
  });
}
bool GrahamValuesF(const GrahamTable<float>& t, const float* in, float* out, std::size_t n) { return graham_loop<float>(t, in, out, n); }
bool GrahamValuesD(const GrahamTable<double>& t, const double* in, double* out, std::size_t n) { return graham_loop<double>(t, in, out, n); }

std::size_t GrahamCodesF(const GrahamTable<float>& t, const float* in, std::uint64_t* codes, std::size_t n, bool& bad) {
  constexpr std::size_t L = Lanes<float>::L;
  typename Lanes<float>::S bad_lanes{};
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    typename Lanes<float>::U c;
    bad_lanes |= graham_code_lanes<float>(t, in + i, c);
    for (std::size_t l = 0; l < L; ++l) codes[i + l] = c[l];
  }
  bad = false;
  for (std::size_t l = 0; l < L; ++l) bad |= bad_lanes[l] != 0;
  return i;
}

}  // namespace bitsim::formats::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace bitsim::formats::detail {

HWY_EXPORT(FloatValuesF);
HWY_EXPORT(FloatValuesD);
HWY_EXPORT(FixedValuesF);
HWY_EXPORT(FixedValuesD);
HWY_EXPORT(FloatValuesSrF);
HWY_EXPORT(FloatValuesSrD);
HWY_EXPORT(FixedValuesSrF);
HWY_EXPORT(FixedValuesSrD);
HWY_EXPORT(GrahamValuesF);
HWY_EXPORT(GrahamValuesD);
HWY_EXPORT(GrahamCodesF);

bool float_values(const FloatConsts<float>& k, Rounding mode, const float* in, float* out, const std::uint32_t* words,
                  std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FloatValuesF)(k, mode, in, out, words, n);
}
bool float_values(const FloatConsts<double>& k, Rounding mode, const double* in, double* out,
                  const std::uint32_t* words, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FloatValuesD)(k, mode, in, out, words, n);
}
bool fixed_values(const FixedConsts& k, float scale, Rounding mode, const float* in, float* out,
                  const std::uint32_t* words, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FixedValuesF)(k, scale, mode, in, out, words, n);
}
bool fixed_values(const FixedConsts& k, double scale, Rounding mode, const double* in, double* out,
                  const std::uint32_t* words, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FixedValuesD)(k, scale, mode, in, out, words, n);
}
bool float_values_sr(const FloatConsts<float>& k, std::uint64_t seed, std::uint64_t first, const float* in, float* out,
                     std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FloatValuesSrF)(k, seed, first, in, out, n);
}
bool float_values_sr(const FloatConsts<double>& k, std::uint64_t seed, std::uint64_t first, const double* in, double* out,
                     std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FloatValuesSrD)(k, seed, first, in, out, n);
}
bool fixed_values_sr(const FixedConsts& k, float scale, std::uint64_t seed, std::uint64_t first, const float* in,
                     float* out, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FixedValuesSrF)(k, scale, seed, first, in, out, n);
}
bool fixed_values_sr(const FixedConsts& k, double scale, std::uint64_t seed, std::uint64_t first, const double* in,
                     double* out, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(FixedValuesSrD)(k, scale, seed, first, in, out, n);
}
bool graham_values(const GrahamTable<float>& t, const float* in, float* out, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(GrahamValuesF)(t, in, out, n);
}
bool graham_values(const GrahamTable<double>& t, const double* in, double* out, std::size_t n) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(GrahamValuesD)(t, in, out, n);
}
std::size_t graham_codes(const GrahamTable<float>& t, const float* in, std::uint64_t* codes, std::size_t n, bool& bad) {
  apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(GrahamCodesF)(t, in, codes, n, bad);
}

}  // namespace bitsim::formats::detail
#endif  // HWY_ONCE
