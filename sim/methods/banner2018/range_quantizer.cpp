#include "sim/methods/banner2018/range_quantizer.hpp"

#include "formats/rounding.hpp"
#include "sim/methods/banner2018/range_loops.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace bitsim::sim::methods {

namespace {

// Below this many elements a second thread costs more than it saves.
constexpr std::int64_t kMinPerThread = 1 << 15;

int threads_for(std::size_t n, int threads) {
  return static_cast<int>(std::clamp<std::int64_t>(static_cast<std::int64_t>(n) / kMinPerThread, 1, std::max(1, threads)));
}

struct MinMax {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  bool finite = true;
};

// Min, max and whether every element is finite, in 16 running lanes (element i in lane i mod 16;
// range_loops.hpp does the same on vectors): x * 0 is 0 for finite x and NaN for NaN or +-inf, so a
// sum of those products tells whether any element was not finite.
MinMax scan(const float* p, std::int64_t n, Loops loops) {
  if (loops == Loops::vector) {
    const simd::RangeScan r = simd::range_scan(p, n);
    return {r.lo, r.hi, r.finite};
  }
  float lo[16], hi[16], bad[16];
  for (int l = 0; l < 16; ++l) {
    lo[l] = std::numeric_limits<float>::infinity();
    hi[l] = -std::numeric_limits<float>::infinity();
    bad[l] = 0;
  }
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) {
      const float v = p[i + l];
      lo[l] = v < lo[l] ? v : lo[l];
      hi[l] = v > hi[l] ? v : hi[l];
      bad[l] += v * 0.0f;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float v = p[i];
    lo[l] = v < lo[l] ? v : lo[l];
    hi[l] = v > hi[l] ? v : hi[l];
    bad[l] += v * 0.0f;
  }
  MinMax m;
  for (int l = 0; l < 16; ++l) {
    m.lo = std::min(m.lo, lo[l]);
    m.hi = std::max(m.hi, hi[l]);
    if (bad[l] != 0.0f) m.finite = false;  // NaN compares unequal
  }
  return m;
}

// The stochastic-rounding noise of one Philox word: its top 24 bits as a uniform value in [-1/2, 1/2),
// exact in float.
inline float noise_from_word(std::uint32_t w) { return static_cast<float>(static_cast<std::int32_t>(w >> 8)) * 0x1p-24f - 0.5f; }

[[noreturn]] void throw_not_finite(std::span<const float> x) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw formats::QuantizeError::at_element(static_cast<std::int64_t>(i),
                                               fmt::format("{} has no range: the min/max quantizer needs finite values", x[i]));
  throw formats::QuantizeError("non-finite value");  // not reached: scan() found one
}

}  // namespace

ValueRange measure_tensor_range(std::span<const float> x, int threads, Loops loops) {
  if (x.empty()) return {};
  const int t = threads_for(x.size(), threads);
  std::vector<MinMax> part(static_cast<std::size_t>(t));
  const auto n = static_cast<std::int64_t>(x.size());
  detail::run_blocks(t, t, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t begin = n * b / t, end = n * (b + 1) / t;
      part[static_cast<std::size_t>(b)] = scan(x.data() + begin, end - begin, loops);
    }
  });
  MinMax all;
  for (const MinMax& m : part) {
    all.lo = std::min(all.lo, m.lo);
    all.hi = std::max(all.hi, m.hi);
    all.finite = all.finite && m.finite;
  }
  if (!all.finite) throw_not_finite(x);
  return {all.lo, all.hi};
}

ValueRange measure_sample_mean_range(std::span<const float> x, std::int64_t samples, int threads, RangeArithmetic arithmetic,
                                     Loops loops) {
  if (x.empty()) return {};
  if (samples < 1 || x.size() % static_cast<std::size_t>(samples) != 0)
    throw std::invalid_argument(fmt::format("per-sample range: {} elements do not split into {} samples", x.size(), samples));
  const auto per = static_cast<std::int64_t>(x.size()) / samples;
  std::vector<MinMax> part(static_cast<std::size_t>(samples));
  const int t = threads_for(x.size(), threads);
  detail::run_blocks(samples, t, [&](std::int64_t s0, std::int64_t s1) {
    for (std::int64_t s = s0; s < s1; ++s) part[static_cast<std::size_t>(s)] = scan(x.data() + s * per, per, loops);
  });
  for (const MinMax& m : part)
    if (!m.finite) throw_not_finite(x);
  if (arithmetic == RangeArithmetic::f32) {
    float lo = 0, hi = 0;  // every addition rounded to float, in sample order
    for (const MinMax& m : part) {
      lo += static_cast<float>(m.lo);
      hi += static_cast<float>(m.hi);
    }
    const auto n = static_cast<float>(samples);
    return {lo / n, hi / n};
  }
  double lo = 0, hi = 0;
  for (const MinMax& m : part) {
    lo += m.lo;
    hi += m.hi;
  }
  return {lo / static_cast<double>(samples), hi / static_cast<double>(samples)};
}

double range_scale(ValueRange r, int bits) {
  const double qmax = std::ldexp(1.0, bits) - 1;
  return std::max((r.hi - r.lo) / qmax, 1e-8);
}

ValueRange range_with_zero(ValueRange r) { return {std::min(r.lo, 0.0), std::max(r.hi, 0.0)}; }

double range_zero_point(ValueRange r, int bits) {
  const double qmax = std::ldexp(1.0, bits) - 1;
  const ValueRange w = range_with_zero(r);
  return std::trunc(std::clamp(-w.lo / range_scale(w, bits), 0.0, qmax));
}

namespace {

// The true_zero variant (see the header): a separate loop, so the default path's loop stays as it is.
void quantize_true_zero(std::span<float> x, ValueRange r, int bits, const formats::PhiloxWords* noise, int threads, Loops loops) {
  const float s = static_cast<float>(range_scale(range_with_zero(r), bits)), z = static_cast<float>(range_zero_point(r, bits));
  const float qmax = static_cast<float>(std::ldexp(1.0, bits) - 1);
  const auto n = static_cast<std::int64_t>(x.size());
  detail::run_blocks(n, threads_for(x.size(), threads), [&](std::int64_t begin, std::int64_t end) {
    constexpr std::int64_t kChunk = 1024;
    std::uint32_t words[kChunk];
    for (std::int64_t c = begin; c < end; c += kChunk) {
      const std::int64_t m = std::min(kChunk, end - c);
      if (noise) noise->fill(static_cast<std::uint64_t>(c), std::span<std::uint32_t>(words, static_cast<std::size_t>(m)));
      float* __restrict q = x.data() + c;
      if (loops == Loops::vector) {
        simd::range_zero_point_loop(q, m, noise ? words : nullptr, s, z, qmax);
        continue;
      }
      for (std::int64_t i = 0; i < m; ++i) {
        float v = q[i] / s;
        v = v + z;
        if (noise) v = v + noise_from_word(words[i]);
        v = v < 0.0f ? 0.0f : (v > qmax ? qmax : v);
        v = std::nearbyint(v);
        q[i] = (v - z) * s;
      }
    }
  });
}

}  // namespace

void range_quantize(std::span<float> x, ValueRange r, int bits, const formats::PhiloxWords* noise, int threads,
                    bool true_zero, Loops loops) {
  if (bits < 1 || bits > 24) throw std::invalid_argument(fmt::format("range quantizer: bits {} is not in 1..24", bits));
  if (x.empty()) return;
  if (true_zero) {
    quantize_true_zero(x, r, bits, noise, threads, loops);
    return;
  }
  const float lo = static_cast<float>(r.lo), s = static_cast<float>(range_scale(r, bits));
  const float qmax = static_cast<float>(std::ldexp(1.0, bits) - 1);
  const auto n = static_cast<std::int64_t>(x.size());
  const int t = threads_for(x.size(), threads);
  detail::run_blocks(n, t, [&](std::int64_t begin, std::int64_t end) {
    float* __restrict p = x.data();
    if (loops == Loops::vector && !noise) {
      simd::range_grid_loop(p + begin, end - begin, nullptr, lo, s, qmax);
      return;
    }
    if (!noise) {
      for (std::int64_t i = begin; i < end; ++i) {
        float q = (p[i] - lo) / s;
        q = q < 0.0f ? 0.0f : (q > qmax ? qmax : q);
        q = std::nearbyint(q);  // the default rounding mode: to nearest, ties to even
        p[i] = q * s + lo;
      }
      return;
    }
    constexpr std::int64_t kChunk = 1024;
    std::uint32_t words[kChunk];
    for (std::int64_t c = begin; c < end; c += kChunk) {
      const std::int64_t m = std::min(kChunk, end - c);
      noise->fill(static_cast<std::uint64_t>(c), std::span<std::uint32_t>(words, static_cast<std::size_t>(m)));
      float* __restrict q = p + c;
      if (loops == Loops::vector) {
        simd::range_grid_loop(q, m, words, lo, s, qmax);
        continue;
      }
      for (std::int64_t i = 0; i < m; ++i) {
        const float u = noise_from_word(words[i]);
        float v = (q[i] - lo) / s;
        v = v + u;
        v = v < 0.0f ? 0.0f : (v > qmax ? qmax : v);
        v = std::nearbyint(v);
        q[i] = v * s + lo;
      }
    }
  });
}

}  // namespace bitsim::sim::methods
