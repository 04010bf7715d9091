#include "sim/methods/wageubn2019/wageubn_quantizer.hpp"

#include "formats/format.hpp"
#include "sim/methods/wageubn2019/wageubn_loops.hpp"
#include "formats/rounding.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <bit>
#include <stdexcept>
#include <vector>

namespace bitsim::sim::methods {

namespace {

// Below this many elements a second thread costs more than it saves.
constexpr std::int64_t kMinPerThread = 1 << 15;
// Elements are checked for finiteness and then quantized in chunks of this size (so the check reads
// from cache, and an error is thrown before the chunk holding it is changed).
constexpr std::int64_t kChunk = 2048;

int threads_for(std::size_t n, int threads) {
  return static_cast<int>(std::clamp<std::int64_t>(static_cast<std::int64_t>(n) / kMinPerThread, 1, std::max(1, threads)));
}

constexpr std::uint32_t kInfinityBits = 0x7f800000u;

// Throws QuantizeError naming the first non-finite element of x[0, n) (offset `first` in the tensor), if any.
void check_finite(const float* x, std::int64_t n, std::int64_t first, Loops loops) {
  if (loops == Loops::vector) {
    if (simd::wage_max_abs_bits(x, n) < kInfinityBits) return;
  } else {
    float bad = 0;
    for (std::int64_t i = 0; i < n; ++i) bad += x[i] * 0.0f;  // NaN for NaN or +-inf
    if (bad == 0.0f) return;
  }
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw formats::QuantizeError::at_element(first + i, fmt::format("{} cannot be quantized (WAGEUBN quantizers need finite values)", x[i]));
}

// 2^e as a float; e in [-126, 127].
float pow2f(int e) { return std::ldexp(1.0f, e); }

// x * 2^e, exactly when the result is a normal float: one multiplication when 2^e is a normal float,
// else ldexp (correctly rounded).
struct Pow2Scale {
  int e;
  float f;
  bool fast;
  explicit Pow2Scale(int e_) : e(e_), f(0), fast(e_ >= -126 && e_ <= 127) {
    if (fast) f = pow2f(e_);
  }
  float operator()(float x) const { return fast ? x * f : std::ldexp(x, e); }
};

// Runs body(begin, end) over [0, n) in chunks of kChunk, split over threads in contiguous blocks.
template <class Body> void for_chunks(std::size_t n, int threads, Body body) {
  const int t = threads_for(n, threads);
  detail::run_blocks(static_cast<std::int64_t>(n), t, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; c += kChunk) body(c, std::min(e, c + kChunk));
  });
}

float max_abs(std::span<const float> x, int threads, Loops loops) {
  if (x.empty()) return 0.0f;
  const int t = threads_for(x.size(), threads);
  const auto count = static_cast<std::int64_t>(x.size());
  std::vector<float> part(static_cast<std::size_t>(t), 0.0f);
  detail::run_blocks(count, t, [&](std::int64_t b, std::int64_t e) {
    float m = 0;
    for (std::int64_t c = b; c < e; c += kChunk) {
      const std::int64_t n = std::min(e, c + kChunk) - c;
      const float* p = x.data() + c;
      if (loops == Loops::vector) {
        // The largest magnitude's bits are the largest bits of the magnitudes (finite floats >= 0
        // order as their bit patterns); from NaN or an infinity upward, check_finite names it.
        const std::uint32_t bits = simd::wage_max_abs_bits(p, n);
        if (bits >= kInfinityBits) check_finite(p, n, c, Loops::scalar);
        m = std::max(m, std::bit_cast<float>(bits));
        continue;
      }
      check_finite(p, n, c, loops);
      for (std::int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(p[i]));
    }
    int block = 0;  // run_blocks' block b starts at count b / t
    while (count * block / t != b) ++block;
    part[static_cast<std::size_t>(block)] = m;
  });
  return *std::max_element(part.begin(), part.end());
}

void direct(std::span<float> x, int bits, WageClip clip, int threads, Loops loops) {
  const float up = pow2f(bits - 1), down = pow2f(1 - bits);
  const float hi = clip == WageClip::unit ? 1.0f - down : clip == WageClip::pm1 ? 1.0f : INFINITY;
  for_chunks(x.size(), threads, [&](std::int64_t b, std::int64_t e) {
    float* p = x.data() + b;
    const std::int64_t n = e - b;
    check_finite(p, n, b, loops);
    bool over = false;
    if (loops == Loops::vector) {
      over = simd::wage_direct_loop(p, n, up, down, hi);
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        const float s = p[i] * up;  // exact unless it overflows (checked below)
        over |= std::isinf(s);
        const float q = std::nearbyint(s) * down;
        p[i] = std::min(std::max(q, -hi), hi);
      }
    }
    if (over)
      for (std::int64_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i]))
          throw formats::QuantizeError::at_element(b + i, fmt::format("x 2^{} overflows float", bits - 1));
  });
}

// The scale exponent n of x, or nullopt-like scaled = false for an all-zero tensor.
PowerOfTwoScale scale_of(std::span<const float> x, int threads, Loops loops) {
  const float m = max_abs(x, threads, loops);
  if (m == 0.0f) return {};
  const int n = round_log2(m);
  if (n > 127)
    throw formats::QuantizeError(fmt::format("max |x| = {} gives the scale R = 2^{}, which overflows float", m, n));
  return {true, n};
}

void shift(std::span<float> x, int bits, WageClip clip, int n, int threads, Loops loops) {
  const Pow2Scale to_unit(-n), back(n);
  const float up = pow2f(bits - 1), down = pow2f(1 - bits);
  const float hi = clip == WageClip::unit ? 1.0f - down : clip == WageClip::pm1 ? 1.0f : INFINITY;
  if (!to_unit.fast || !back.fast) loops = Loops::scalar;  // a tensor below 2^-126: ldexp
  for_chunks(x.size(), threads, [&](std::int64_t b, std::int64_t e) {
    float* p = x.data() + b;
    if (loops == Loops::vector) {
      simd::wage_shift_loop(p, e - b, to_unit.f, up, down, hi, back.f);
      return;
    }
    for (std::int64_t i = 0; i < e - b; ++i) {
      const float q = std::nearbyint(to_unit(p[i]) * up) * down;
      p[i] = back(std::min(std::max(q, -hi), hi));
    }
  });
}

void flag(std::span<float> x, int bits, int n, int threads, Loops loops) {
  const Pow2Scale to_units(bits - 1 - n), back(n - (bits - 1));
  const float up = pow2f(bits - 1), down = pow2f(1 - bits), top = up - 1.0f;
  if (!to_units.fast || !back.fast) loops = Loops::scalar;
  for_chunks(x.size(), threads, [&](std::int64_t b, std::int64_t e) {
    float* p = x.data() + b;
    if (loops == Loops::vector) {
      simd::wage_flag_loop(p, e - b, to_units.f, up, down, top, back.f);
      return;
    }
    for (std::int64_t i = 0; i < e - b; ++i) {
      const float u = to_units(p[i]), a = std::fabs(u);
      // |u| >= 1: whole units of s (at most 2^(k-1) - 1); below: the fine grid s 2^(1-k) (at most 1).
      const float v = a >= 1.0f ? std::min(std::nearbyint(a), top) : std::min(std::nearbyint(a * up) * down, 1.0f);
      p[i] = back(std::copysign(v, u));
    }
  });
}

void constant(std::span<float> x, const WageSpec& s, int n, bool stochastic, const formats::PhiloxWords* words, int threads,
              Loops loops) {
  const std::int64_t g = s.dynamic_range();
  const int g_log2 = std::countr_zero(static_cast<std::uint64_t>(g));
  const Pow2Scale to_range(g_log2 - n), to_g(1 - s.const_bits);
  const float fine_up = 0x1p31f, fine_down = 0x1p-31f, top = static_cast<float>(g - 1);
  if (!to_range.fast || !to_g.fast) loops = Loops::scalar;
  for_chunks(x.size(), threads, [&](std::int64_t b, std::int64_t e) {
    float* p = x.data() + b;
    const std::int64_t len = e - b;
    std::array<std::uint32_t, kChunk> w{};
    if (stochastic) words->fill(static_cast<std::uint64_t>(b), std::span<std::uint32_t>(w.data(), static_cast<std::size_t>(len)));
    if (loops == Loops::vector) {
      simd::wage_constant_loop(p, len, stochastic ? w.data() : nullptr, to_range.f, top, to_g.f);
      return;
    }
    for (std::int64_t i = 0; i < len; ++i) {
      // t = Q(g x / R, 32): only values below 2^-8 have bits under the 2^-31 grid to round away.
      const float t = std::nearbyint(to_range(p[i]) * fine_up) * fine_down;
      const float a = std::fabs(t);
      float r;
      if (stochastic) {
        const float fl = std::floor(a), frac = a - fl;  // exact; frac is on the 2^-31 grid
        r = fl + (static_cast<double>(w[static_cast<std::size_t>(i)]) < static_cast<double>(frac) * 0x1p32 ? 1.0f : 0.0f);
      } else {
        r = std::nearbyint(a);
      }
      p[i] = to_g(std::copysign(std::min(r, top), t));
    }
  });
}

}  // namespace

const char* wage_kind_name(WageKind k) {
  switch (k) {
    case WageKind::direct: return "direct";
    case WageKind::shift: return "shift";
    case WageKind::flag: return "flag";
    case WageKind::constant: return "constant";
  }
  return "?";
}

const char* wage_clip_name(WageClip c) {
  switch (c) {
    case WageClip::none: return "none";
    case WageClip::unit: return "unit";
    case WageClip::pm1: return "pm1";
  }
  return "?";
}

WageSpec WageSpec::of(WageKind kind, int bits) {
  WageSpec s;
  s.kind = kind;
  s.bits = bits;
  s.clip = kind == WageKind::shift ? WageClip::unit : WageClip::none;
  return s;
}

void WageSpec::validate() const {
  const char* name = wage_kind_name(kind);
  if (kind == WageKind::direct) {
    if (bits < 1 || bits > 32) throw formats::FormatError(fmt::format("direct quantizer: bits = {} is not in 1..32", bits));
  } else if (bits < 2 || bits > 24) {
    throw formats::FormatError(fmt::format("{} quantizer: bits = {} is not in 2..24", name, bits));
  }
  if (clip != WageClip::none && kind != WageKind::direct && kind != WageKind::shift)
    throw formats::FormatError(fmt::format("{} quantizer: clip is for direct and shift only", name));
  if (kind == WageKind::constant) {
    if (const_bits < 1 || const_bits > 60)
      throw formats::FormatError(fmt::format("constant quantizer: const_bits = {} is not in 1..60", const_bits));
    if (gscale != 0 && (gscale < 2 || gscale > (std::int64_t{1} << 24) || (gscale & (gscale - 1)) != 0))
      throw formats::FormatError(fmt::format("constant quantizer: gscale = {} is not a power of two in 2..2^24", gscale));
  }
}

std::string WageSpec::text() const {
  std::string s = fmt::format("{}(bits={}", wage_kind_name(kind), bits);
  if (clip != of(kind, bits).clip) s += fmt::format(",clip={}", wage_clip_name(clip));
  if (kind == WageKind::constant) {
    if (const_bits != 15) s += fmt::format(",const_bits={}", const_bits);
    if (gscale != 0) s += fmt::format(",gscale={}", gscale);
  }
  return s + ")";
}

float wage_max_abs(std::span<const float> x, int threads) { return max_abs(x, threads, Loops::vector); }

int round_log2(float m) {
  int e = 0;
  const float f = std::frexp(m, &e);  // m = f 2^e, f in [1/2, 1); log2 m = e + log2 f, log2 f in [-1, 0)
  const double f2 = static_cast<double>(f) * f;  // exact
  return 2.0 * f2 >= 1.0 ? e : e - 1;  // log2 f >= -1/2 iff f^2 >= 1/2 (never equal: sqrt(1/2) is irrational)
}

PowerOfTwoScale wage_quantize(std::span<float> x, const WageSpec& spec, bool stochastic, const formats::PhiloxWords* words,
                              int threads, Loops loops) {
  spec.validate();
  if (stochastic && spec.kind != WageKind::constant)
    throw std::invalid_argument(fmt::format("{} quantizer: stochastic rounding is only defined for constant (G)",
                                            wage_kind_name(spec.kind)));
  if (stochastic && !words) throw std::invalid_argument("constant quantizer: stochastic rounding needs its random words");
  if (x.empty()) return {};
  if (spec.kind == WageKind::direct) {
    direct(x, spec.bits, spec.clip, threads, loops);
    return {};
  }
  const PowerOfTwoScale sc = scale_of(x, threads, loops);
  if (!sc.scaled) return sc;  // all zeros stay zeros
  switch (spec.kind) {
    case WageKind::shift: shift(x, spec.bits, spec.clip, sc.exponent, threads, loops); break;
    case WageKind::flag: flag(x, spec.bits, sc.exponent, threads, loops); break;
    case WageKind::constant: constant(x, spec, sc.exponent, stochastic, words, threads, loops); break;
    case WageKind::direct: break;
  }
  return sc;
}

}  // namespace bitsim::sim::methods
