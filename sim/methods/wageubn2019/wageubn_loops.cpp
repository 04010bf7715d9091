// The WAGEUBN quantizers' element loops on vectors (wageubn_loops.hpp), compiled once per SIMD target
// by Highway's foreach_target (this file includes itself once per target) and dispatched at run time.
// Each loop's lane is the scalar reference's element (wageubn_quantizer.cpp) written with vector
// operations that round the same way: Round is nearbyint's ties-to-even, and std::min / std::max are
// spelled as the selects they are ((b < a) ? b : a), so equal operands and signed zeros come out alike.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sim/methods/wageubn2019/wageubn_loops.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "sim/methods/wageubn2019/wageubn_loops.hpp"

#include <algorithm>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace bitsim::sim::methods::simd::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;

// Room for the last, partial vector of any target (64 floats: 2048-bit vectors).
constexpr std::size_t kMaxLanes = 64;

// std::min(a, b) and std::max(a, b) on floats, lane by lane: (b < a) ? b : a and (a < b) ? b : a.
inline VF min_like_std(VF a, VF b) { return hn::IfThenElse(hn::Lt(b, a), b, a); }
inline VF max_like_std(VF a, VF b) { return hn::IfThenElse(hn::Lt(a, b), b, a); }

// x[i] = lane(x[i]) for every element; the last partial vector goes through a zero-filled buffer, so
// every element takes the same vector code.
template <class Lane> void map_lanes(float* x, std::int64_t n, Lane lane) {
  const DF d;
  const auto L = static_cast<std::int64_t>(hn::Lanes(d));
  std::int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(lane(hn::LoadU(d, x + i), i), d, x + i);
  if (i < n) {
    HWY_ALIGN float buf[kMaxLanes] = {};
    const auto rest = static_cast<std::size_t>(n - i);
    std::memcpy(buf, x + i, rest * sizeof(float));
    hn::Store(lane(hn::Load(d, buf), i), d, buf);
    std::memcpy(x + i, buf, rest * sizeof(float));
  }
}

std::uint32_t MaxAbsBits(const float* x, std::int64_t n) {
  const DF d;
  const DU du;
  const auto L = static_cast<std::int64_t>(hn::Lanes(d));
  const auto magnitude = hn::Set(du, 0x7fffffffu);
  auto m = hn::Zero(du);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) m = hn::Max(m, hn::And(hn::BitCast(du, hn::LoadU(d, x + i)), magnitude));
  std::uint32_t r = hn::GetLane(hn::MaxOfLanes(du, m));
  for (; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    r = std::max(r, b & 0x7fffffffu);
  }
  return r;
}

bool DirectLoop(float* x, std::int64_t n, float up_, float down_, float hi_) {
  const DF d;
  const DU du;
  const VF up = hn::Set(d, up_), down = hn::Set(d, down_), hi = hn::Set(d, hi_), neg_hi = hn::Neg(hi);
  auto largest = hn::Zero(du);  // of |x * up|'s bits: an infinity shows as 0x7f800000
  map_lanes(x, n, [&](VF v, std::int64_t) {
    const VF s = hn::Mul(v, up);
    largest = hn::Max(largest, hn::BitCast(du, hn::Abs(s)));
    const VF q = hn::Mul(hn::Round(s), down);
    return min_like_std(max_like_std(q, neg_hi), hi);
  });
  return hn::GetLane(hn::MaxOfLanes(du, largest)) >= 0x7f800000u;
}

void ShiftLoop(float* x, std::int64_t n, float to_unit_, float up_, float down_, float hi_, float back_) {
  const DF d;
  const VF to_unit = hn::Set(d, to_unit_), up = hn::Set(d, up_), down = hn::Set(d, down_), hi = hn::Set(d, hi_),
           neg_hi = hn::Neg(hi), back = hn::Set(d, back_);
  map_lanes(x, n, [&](VF v, std::int64_t) {
    const VF q = hn::Mul(hn::Round(hn::Mul(hn::Mul(v, to_unit), up)), down);
    return hn::Mul(min_like_std(max_like_std(q, neg_hi), hi), back);
  });
}

void FlagLoop(float* x, std::int64_t n, float to_units_, float up_, float down_, float top_, float back_) {
  const DF d;
  const VF to_units = hn::Set(d, to_units_), up = hn::Set(d, up_), down = hn::Set(d, down_), top = hn::Set(d, top_),
           back = hn::Set(d, back_), one = hn::Set(d, 1.0f);
  map_lanes(x, n, [&](VF v, std::int64_t) {
    const VF u = hn::Mul(v, to_units), a = hn::Abs(u);
    const VF whole = min_like_std(hn::Round(a), top);                            // a >= 1: units of s
    const VF fine = min_like_std(hn::Mul(hn::Round(hn::Mul(a, up)), down), one);  // a < 1: the grid s d(k)
    const VF value = hn::IfThenElse(hn::Ge(a, one), whole, fine);               // >= +0
    return hn::Mul(hn::CopySignToAbs(value, u), back);
  });
}

void ConstantLoop(float* x, std::int64_t n, const std::uint32_t* words, float to_range_, float top_, float to_g_) {
  const DF d;
  const DU du;
  const DI di;
  const VF to_range = hn::Set(d, to_range_), top = hn::Set(d, top_), to_g = hn::Set(d, to_g_),
           fine_up = hn::Set(d, 0x1p31f), fine_down = hn::Set(d, 0x1p-31f), one = hn::Set(d, 1.0f);
  const auto L = static_cast<std::int64_t>(hn::Lanes(d));
  HWY_ALIGN std::uint32_t tail_words[kMaxLanes] = {};
  map_lanes(x, n, [&](VF v, std::int64_t i) {
    const VF t = hn::Mul(hn::Round(hn::Mul(hn::Mul(v, to_range), fine_up)), fine_down);
    const VF a = hn::Abs(t);
    VF r;
    if (words) {
      // frac(a) lies on the 2^-31 grid, so frac * 2^31 is an integer below 2^31 and frac * 2^32 twice
      // it: the scalar loop's comparison of the word with frac * 2^32, in integers.
      const VF whole = hn::Floor(a), frac = hn::Sub(a, whole);
      const auto threshold = hn::ShiftLeft<1>(hn::BitCast(du, hn::ConvertTo(di, hn::Mul(frac, fine_up))));
      const std::uint32_t* w = words + i;
      if (i + L > n) {
        std::memcpy(tail_words, w, static_cast<std::size_t>(n - i) * sizeof(std::uint32_t));
        w = tail_words;
      }
      const auto round_up = hn::RebindMask(d, hn::Lt(hn::LoadU(du, w), threshold));
      r = hn::Add(whole, hn::IfThenElseZero(round_up, one));
    } else {
      r = hn::Round(a);
    }
    return hn::Mul(hn::CopySignToAbs(min_like_std(r, top), t), to_g);
  });
}

}  // namespace bitsim::sim::methods::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "formats/simd_target.hpp"

namespace bitsim::sim::methods::simd {

HWY_EXPORT(MaxAbsBits);
HWY_EXPORT(DirectLoop);
HWY_EXPORT(ShiftLoop);
HWY_EXPORT(FlagLoop);
HWY_EXPORT(ConstantLoop);

std::uint32_t wage_max_abs_bits(const float* x, std::int64_t n) {
  formats::apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(MaxAbsBits)(x, n);
}

bool wage_direct_loop(float* x, std::int64_t n, float up, float down, float hi) {
  formats::apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(DirectLoop)(x, n, up, down, hi);
}

void wage_shift_loop(float* x, std::int64_t n, float to_unit, float up, float down, float hi, float back) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(ShiftLoop)(x, n, to_unit, up, down, hi, back);
}

void wage_flag_loop(float* x, std::int64_t n, float to_units, float up, float down, float top, float back) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(FlagLoop)(x, n, to_units, up, down, top, back);
}

void wage_constant_loop(float* x, std::int64_t n, const std::uint32_t* words, float to_range, float top, float to_g) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(ConstantLoop)(x, n, words, to_range, top, to_g);
}

}  // namespace bitsim::sim::methods::simd
#endif  // HWY_ONCE
