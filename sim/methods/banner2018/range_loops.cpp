// The min/max quantizer's loops on vectors (range_loops.hpp), compiled once per SIMD target by
// Highway's foreach_target (this file includes itself once per target) and dispatched at run time.
// Each lane is the scalar reference's element (range_quantizer.cpp) with the same operations in the
// same order: separate multiplications and additions (never fused), Round for nearbyint's ties to
// even, and the reference's conditional expressions as selects, so NaN and signed zeros come out alike.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "sim/methods/banner2018/range_loops.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "sim/methods/banner2018/range_loops.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace bitsim::sim::methods::simd::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// The scan's 16 running lanes: one vector of them, or several narrower ones side by side.
constexpr std::int64_t kScanLanes = 16;
using DS = hn::CappedTag<float, kScanLanes>;

RangeScan RangeScanLanes(const float* p, std::int64_t n) {
  const DS d;
  constexpr std::int64_t kMaxParts = kScanLanes;  // 16 / Lanes(d) parts, at most 16 of one lane
  const auto L = static_cast<std::int64_t>(hn::Lanes(d));
  const std::int64_t parts = kScanLanes / L;
  using V = hn::Vec<DS>;
  V lo[kMaxParts], hi[kMaxParts], bad[kMaxParts];
  for (std::int64_t j = 0; j < parts; ++j) {
    lo[j] = hn::Set(d, std::numeric_limits<float>::infinity());
    hi[j] = hn::Set(d, -std::numeric_limits<float>::infinity());
    bad[j] = hn::Zero(d);
  }
  const V zero = hn::Zero(d);
  std::int64_t i = 0;
  for (; i + kScanLanes <= n; i += kScanLanes)
    for (std::int64_t j = 0; j < parts; ++j) {
      const V v = hn::LoadU(d, p + i + j * L);
      lo[j] = hn::IfThenElse(hn::Lt(v, lo[j]), v, lo[j]);
      hi[j] = hn::IfThenElse(hn::Gt(v, hi[j]), v, hi[j]);
      bad[j] = hn::Add(bad[j], hn::Mul(v, zero));  // NaN for NaN or an infinity
    }
  HWY_ALIGN float los[kScanLanes], his[kScanLanes], bads[kScanLanes];
  for (std::int64_t j = 0; j < parts; ++j) {
    hn::Store(lo[j], d, los + j * L);
    hn::Store(hi[j], d, his + j * L);
    hn::Store(bad[j], d, bads + j * L);
  }
  for (std::int64_t l = 0; i < n; ++i, ++l) {  // the rest: element i in lane i mod 16, as above
    const float v = p[i];
    los[l] = v < los[l] ? v : los[l];
    his[l] = v > his[l] ? v : his[l];
    bads[l] += v * 0.0f;
  }
  RangeScan r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), true};
  for (std::int64_t l = 0; l < kScanLanes; ++l) {
    r.lo = std::min(r.lo, los[l]);
    r.hi = std::max(r.hi, his[l]);
    if (bads[l] != 0.0f) r.finite = false;
  }
  return r;
}

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr std::size_t kMaxLanes = 64;  // room for a last partial vector of any target

// x[i] = lane(x[i], the words of those lanes) for every element, the last partial vector through
// zero-filled buffers.
template <class Lane> void map_lanes(float* x, std::int64_t n, const std::uint32_t* words, Lane lane) {
  const DF d;
  const hn::RebindToUnsigned<DF> du;
  const auto L = static_cast<std::int64_t>(hn::Lanes(d));
  std::int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(lane(hn::LoadU(d, x + i), words ? hn::LoadU(du, words + i) : hn::Zero(du)), d, x + i);
  if (i < n) {
    HWY_ALIGN float buf[kMaxLanes] = {};
    HWY_ALIGN std::uint32_t wbuf[kMaxLanes] = {};
    const auto rest = static_cast<std::size_t>(n - i);
    std::memcpy(buf, x + i, rest * sizeof(float));
    if (words) std::memcpy(wbuf, words + i, rest * sizeof(std::uint32_t));
    hn::Store(lane(hn::Load(d, buf), hn::Load(du, wbuf)), d, buf);
    std::memcpy(x + i, buf, rest * sizeof(float));
  }
}

// The noise of a word: its top 24 bits as a uniform value in [-1/2, 1/2), exact in float.
template <class VU> VF noise_of(VU w) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  return hn::Sub(hn::Mul(hn::ConvertTo(d, hn::BitCast(di, hn::ShiftRight<8>(w))), hn::Set(d, 0x1p-24f)), hn::Set(d, 0.5f));
}

// v < 0 ? 0 : (v > qmax ? qmax : v), then to nearest even.
inline VF clamp_and_round(VF v, VF qmax) {
  const DF d;
  const VF zero = hn::Zero(d);
  return hn::Round(hn::IfThenElse(hn::Lt(v, zero), zero, hn::IfThenElse(hn::Gt(v, qmax), qmax, v)));
}

void RangeGridLoop(float* p, std::int64_t n, const std::uint32_t* words, float lo_, float s_, float qmax_) {
  const DF d;
  const VF lo = hn::Set(d, lo_), s = hn::Set(d, s_), qmax = hn::Set(d, qmax_);
  map_lanes(p, n, words, [&](VF x, auto w) {
    VF v = hn::Div(hn::Sub(x, lo), s);
    if (words) v = hn::Add(v, noise_of(w));
    return hn::Add(hn::Mul(clamp_and_round(v, qmax), s), lo);
  });
}

void RangeZeroPointLoop(float* p, std::int64_t n, const std::uint32_t* words, float s_, float z_, float qmax_) {
  const DF d;
  const VF s = hn::Set(d, s_), z = hn::Set(d, z_), qmax = hn::Set(d, qmax_);
  map_lanes(p, n, words, [&](VF x, auto w) {
    VF v = hn::Add(hn::Div(x, s), z);
    if (words) v = hn::Add(v, noise_of(w));
    return hn::Mul(hn::Sub(clamp_and_round(v, qmax), z), s);
  });
}

}  // namespace bitsim::sim::methods::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "formats/simd_target.hpp"

namespace bitsim::sim::methods::simd {

HWY_EXPORT(RangeScanLanes);
HWY_EXPORT(RangeGridLoop);
HWY_EXPORT(RangeZeroPointLoop);

RangeScan range_scan(const float* p, std::int64_t n) {
  formats::apply_simd_environment();
  return HWY_DYNAMIC_DISPATCH(RangeScanLanes)(p, n);
}

void range_grid_loop(float* p, std::int64_t n, const std::uint32_t* words, float lo, float s, float qmax) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(RangeGridLoop)(p, n, words, lo, s, qmax);
}

void range_zero_point_loop(float* p, std::int64_t n, const std::uint32_t* words, float s, float z, float qmax) {
  formats::apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(RangeZeroPointLoop)(p, n, words, s, z, qmax);
}

}  // namespace bitsim::sim::methods::simd
#endif  // HWY_ONCE
