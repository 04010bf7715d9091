// WAGEUBN quantizers (sim/methods/wageubn2019/wageubn_quantizer.hpp): direct, shift, flag and constant against a golden path
// written independently in double / integer arithmetic (R(x) by exact comparisons of m^2 with 2^(2e+1),
// stochastic rounding from PhiloxWords::word(i)) on random tensors with ties, clip bounds, subnormals and
// zeros, with 1 and 2 threads; hand-computed values; grid properties of the outputs; unbiased and
// reproducible stochastic constant rounding; edge cases (all-zero, empty, NaN / infinity naming the first
// element, R overflowing float, stochastic refused, WageSpec::validate) and WageSpec::text(); the vector
// loops against the scalar reference loops, bit for bit, on every SIMD target.
#include "formats/format.hpp"
#include "sim/methods/wageubn2019/wageubn_quantizer.hpp"

#include "formats/random_words.hpp"
#include "formats/rounding.hpp"
#include "formats/simd_target.hpp"

#include "error_of.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim::nn;
using namespace bitsim::sim::methods;
namespace formats = bitsim::formats;
using bitsim::test::error_of;
using bitsim::test::outcome_of;

namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
// Equal bits, or both zeros of either sign (the header does not pin down the sign of a zero result).
bool same_value(float a, float b) { return same_bits(a, b) || (a == 0.0f && b == 0.0f); }

// n = round(log2 m) for m > 0 by exact comparisons: m in [2^e, 2^(e+1)) and log2 m >= e + 1/2 iff
// m^2 >= 2^(2e+1) (m^2 of a float is exact in double; equality cannot happen).
int golden_n(double m) {
  const int e = std::ilogb(m);
  return m * m >= std::ldexp(1.0, 2 * e + 1) ? e + 1 : e;
}

// Q(v, k) = round(v 2^(k-1)) / 2^(k-1), ties to even (nearbyint in the default rounding mode).
double golden_q(double v, int k) { return std::ldexp(std::nearbyint(std::ldexp(v, k - 1)), 1 - k); }

double golden_clip(double q, WageClip c, int k) {
  if (c == WageClip::none) return q;
  const double b = c == WageClip::unit ? 1.0 - std::ldexp(1.0, 1 - k) : 1.0;
  return std::min(std::max(q, -b), b);
}

std::int64_t golden_g(const WageSpec& s) { return s.gscale > 0 ? s.gscale : std::int64_t{1} << (s.bits - 1); }

struct Golden { std::vector<float> y; bool scaled = false; int n = 0; };

// The header's definitions, one element at a time in double (every step exact), rounded to float at the end.
Golden golden(const std::vector<float>& x, const WageSpec& spec, bool sr, const formats::PhiloxWords* words) {
  Golden out{x, false, 0};
  const int k = spec.bits;
  double m = 0;
  for (float v : x) m = std::max(m, std::abs(static_cast<double>(v)));
  if (spec.kind != WageKind::direct) {
    if (m == 0) return out;
    out.scaled = true;
    out.n = golden_n(m);
  }
  const int n = out.n;
  const std::int64_t g = spec.kind == WageKind::constant ? golden_g(spec) : 1;
  int log2g = 0;
  while ((std::int64_t{1} << log2g) < g) ++log2g;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    double y = 0;
    switch (spec.kind) {
      case WageKind::direct: y = golden_clip(golden_q(v, k), spec.clip, k); break;
      case WageKind::shift: y = std::ldexp(golden_clip(golden_q(std::ldexp(v, -n), k), spec.clip, k), n); break;
      case WageKind::flag: {
        const int se = n + 1 - k;  // s = R d(k) = 2^se
        const double u = std::ldexp(v, -se), a = std::abs(u);
        const double p = a >= 1 ? std::min(std::nearbyint(a), std::ldexp(1.0, k - 1) - 1)
                                : std::min(golden_q(a, k), 1.0);
        y = std::ldexp(std::copysign(p, u), se);
        break;
      }
      case WageKind::constant: {
        const double t = golden_q(std::ldexp(v, log2g - n), 32);  // Q(g x / R, 32)
        const double a = std::abs(t);
        double r = std::floor(a);
        if (sr) {
          const auto threshold = static_cast<std::uint64_t>(std::ldexp(a - r, 32));  // frac on the 2^-31 grid
          if (static_cast<std::uint64_t>(words->word(i)) < threshold) r += 1;
        } else {
          r = std::nearbyint(a);
        }
        const double lim = static_cast<double>(g - 1);
        y = std::ldexp(std::min(std::max(std::copysign(r, t), -lim), lim), 1 - spec.const_bits);
        break;
      }
    }
    out.y[i] = static_cast<float>(y);
  }
  return out;
}

// n values with max|x| = M (x[0] = +-M), by i % 8: log-uniform magnitudes over 12 decades below M with random
// signs (0-3), uniform in [-M, M] (4), ties (j + 1/2) tie_a (5) and (j + 1/2) tie_b (6), and the special values
// `extras` plus subnormals, FLT_MIN and signed zeros (7); everything above M is dropped.
std::vector<float> make_tensor(std::size_t n, float Mf, double tie_a, double tie_b, std::vector<double> extras,
                               std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double M = Mf;
  for (double s : {1e-40, 1.4e-45, static_cast<double>(FLT_MIN), 0.0}) extras.insert(extras.end(), {s, -s});
  std::erase_if(extras, [&](double e) { return std::abs(e) > M; });
  auto sign = [&] { return (rng() & 1) ? -1.0 : 1.0; };
  auto tie = [&](double u) {  // (j + 1/2) u <= M with 2j + 1 < 2^23, so exact in float; 0 if none fits
    const double jmax = std::min(std::floor(M / u - 0.5), 4194303.0);
    if (jmax < 0) return 0.0;
    std::uniform_int_distribution<std::int64_t> j(0, static_cast<std::int64_t>(jmax));
    return sign() * (static_cast<double>(j(rng)) + 0.5) * u;
  };
  std::vector<float> x(n);
  for (std::size_t i = 1; i < n; ++i) {
    double v = 0;
    switch (i % 8) {
      case 4: v = (2 * unit(rng) - 1) * M; break;
      case 5: v = tie(tie_a); break;
      case 6: v = tie(tie_b); break;
      case 7: v = extras[(i / 8) % extras.size()]; break;
      default: v = sign() * M * std::pow(10.0, -12 * unit(rng));
    }
    x[i] = static_cast<float>(v);
  }
  x[0] = (seed & 1) ? -Mf : Mf;
  return x;
}

// Runs spec with 1 and 2 threads and compares both with the golden path (and with each other bit for bit).
void check_golden(const std::vector<float>& x, const WageSpec& spec, bool sr, std::uint64_t seed) {
  const formats::PhiloxWords words(seed);
  const formats::PhiloxWords* w = sr ? &words : nullptr;
  const Golden want = golden(x, spec, sr, w);
  std::vector<float> one = x, two = x;
  const PowerOfTwoScale s1 = wage_quantize(one, spec, sr, w, 1);
  const PowerOfTwoScale s2 = wage_quantize(two, spec, sr, w, 2);
  std::size_t bad = 0, bad_threads = 0;
  std::ostringstream first;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!same_value(one[i], want.y[i]) && bad++ == 0)
      first << "element " << i << ": x " << x[i] << " got " << one[i] << " want " << want.y[i];
    if (!same_bits(one[i], two[i])) ++bad_threads;
  }
  INFO(spec.text() << (sr ? " stochastic" : "") << ", size " << x.size() << ", max " << x[0] << "; " << first.str());
  CHECK(bad == 0);
  CHECK(bad_threads == 0);
  CHECK((s1.scaled == want.scaled && s2.scaled == want.scaled));
  if (want.scaled) CHECK((s1.exponent == want.n && s2.exponent == want.n));
}

WageSpec spec_of(WageKind kind, int bits, WageClip clip) {
  WageSpec s = WageSpec::of(kind, bits);
  s.clip = clip;
  return s;
}

}  // namespace

TEST_CASE("wageubn: R(x) exponent by exact comparison, hand values and the 2^(n+1/2) boundaries", "[wageubn]") {
  // 0.7: log2 = -0.515 -> -1; 0.71: -0.494 -> 0 (2^-0.5 = 0.70710678 is the boundary); 3: 1.585 -> 2;
  // 2.8: 1.485 -> 1; 1: 0 -> 0.
  CHECK(round_log2(0.7f) == -1);
  CHECK(round_log2(0.71f) == 0);
  CHECK(round_log2(3.0f) == 2);
  CHECK(round_log2(2.8f) == 1);
  CHECK(round_log2(1.0f) == 0);
  CHECK(wage_max_abs(std::vector<float>{0.3f, -0.7f, 0.5f}) == 0.7f);
  std::size_t bad = 0;
  for (int n = -149; n <= 127; ++n) {  // the floats around sqrt(2) 2^n, where the rounding of log2 flips
    const float b = static_cast<float>(std::sqrt(2.0) * std::ldexp(1.0, n));
    for (float m : {std::nextafter(b, 0.0f), b, std::nextafter(b, INFINITY), std::ldexp(1.0f, n)})
      if (m > 0 && golden_n(m) <= 127 && round_log2(m) != golden_n(m)) ++bad;
  }
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint32_t> bits_of(1, 0x7f7fffffu);  // positive finite floats (R a float)
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t u = bits_of(rng);
    float m;
    std::memcpy(&m, &u, sizeof m);
    if (golden_n(m) <= 127 && round_log2(m) != golden_n(m)) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("wageubn: direct equals the golden path, every clip, 1 and 2 threads", "[wageubn]") {
  std::uint64_t seed = 100;
  for (int k : {1, 2, 8, 16, 24, 32}) {
    const double d = std::ldexp(1.0, 1 - k);
    for (WageClip clip : {WageClip::none, WageClip::unit, WageClip::pm1}) {
      for (float M : {1e-6f, 1.5f, 1000.0f}) {
        for (std::size_t n : {std::size_t{17}, std::size_t{70001}}) {
          std::vector<double> ex = {1 - d, 1, 1 - d / 2, 1 + d / 2, 1 + d, std::nextafter(1.0f, 2.0f)};
          for (std::size_t j = 0, e = ex.size(); j < e; ++j) ex.push_back(-ex[j]);
          ++seed;
          check_golden(make_tensor(n, M, d, d / 2, ex, seed), spec_of(WageKind::direct, k, clip), false, seed);
        }
      }
    }
  }
}

TEST_CASE("wageubn: shift, flag and constant equal the golden path, 1 and 2 threads", "[wageubn]") {
  std::uint64_t seed = 1000;
  const float maxima[] = {1.3e-6f, 0.7f, 0.9f, 3.0f, 1000.0f};  // R: 2^-20, 2^-1, 2^0, 2^2, 2^10
  for (float M : maxima) {
    const double R = std::ldexp(1.0, golden_n(M));
    for (std::size_t n : {std::size_t{17}, std::size_t{70001}}) {
      for (int k : {2, 4, 8, 16}) {
        const double d = std::ldexp(1.0, 1 - k), s = R * d, top = std::ldexp(1.0, k - 1);
        std::vector<double> sx = {R * (1 - d), R, R * (1 - d / 2), R * (1 + d / 2), -R * (1 - d), -R};
        for (WageClip clip : {WageClip::unit, WageClip::pm1}) {
          ++seed;
          check_golden(make_tensor(n, M, s, s / 2, sx, seed), spec_of(WageKind::shift, k, clip), false, seed);
        }
        // flag: ties of round(|u|) at (j + 1/2) s and of Q(|u|, k) at (j + 1/2) s d; saturation at 2^(k-1) - 1/2.
        std::vector<double> fx = {s * (top - 1), s * (top - 0.5), s * top, s * (1 - d / 2), s, -s * (top - 0.5)};
        ++seed;
        check_golden(make_tensor(n, M, s, s * d, fx, seed), WageSpec::of(WageKind::flag, k), false, seed);
      }
      for (auto [k, gs] : {std::pair{8, 0}, std::pair{8, 32}, std::pair{8, 2}, std::pair{4, 0}}) {
        WageSpec spec = WageSpec::of(WageKind::constant, k);
        spec.gscale = gs;
        const double g = static_cast<double>(golden_g(spec)), step = R / g;
        std::vector<double> cx = {step * (g - 1), step * (g - 0.5), R, step / 2, -step * (g - 0.5), step * 1e-7};
        const std::vector<float> x = make_tensor(n, M, step, step / 4, cx, ++seed);
        for (bool sr : {false, true}) check_golden(x, spec, sr, seed);
      }
    }
  }
}

TEST_CASE("wageubn: hand-computed values of each kind", "[wageubn]") {
  SECTION("direct k=8") {
    // 0.3 -> round(38.4) = 38 -> 38/128 = 0.296875; 1/256 -> 0.5, a tie, to even 0; 3/256 -> 1.5 -> 2 -> 2/128;
    // 5/256 -> 2.5 -> 2 -> 2/128; -3/256 -> -1.5 -> -2 -> -2/128; 5 stays 5 without a clip; -0.001 -> -0.128 -> 0.
    std::vector<float> x = {0.3f, 1.0f / 256, 3.0f / 256, 5.0f / 256, -3.0f / 256, 5.0f, -0.001f};
    const PowerOfTwoScale sc = wage_quantize(x, WageSpec::of(WageKind::direct, 8), false, nullptr);
    CHECK(x == std::vector<float>{0.296875f, 0.0f, 2.0f / 128, 2.0f / 128, -2.0f / 128, 5.0f, 0.0f});
    CHECK_FALSE(sc.scaled);
    // clip unit: +-(1 - 2^-7) = +-127/128; pm1: [-1, 1].
    std::vector<float> u = {5.0f, -5.0f, 0.3f, 1.0f};
    wage_quantize(u, spec_of(WageKind::direct, 8, WageClip::unit), false, nullptr);
    CHECK(u == std::vector<float>{127.0f / 128, -127.0f / 128, 0.296875f, 127.0f / 128});
    std::vector<float> p = {5.0f, -5.0f, 0.3f, 1.0f};
    wage_quantize(p, spec_of(WageKind::direct, 8, WageClip::pm1), false, nullptr);
    CHECK(p == std::vector<float>{1.0f, -1.0f, 0.296875f, 1.0f});
  }
  SECTION("shift k=8 on {0.7, -0.35, 0.001}: R = 2^round(-0.515) = 0.5") {
    // 0.7/0.5 = 1.4 -> 179.2 -> 179/128 -> clip unit 127/128 -> y = 127/256; -0.35/0.5 = -0.7 -> -89.6 -> -90/128
    // -> y = -90/256; 0.001/0.5 = 0.002 -> 0.256 -> 0. With pm1 the first clamps to 1 -> y = 0.5.
    std::vector<float> x = {0.7f, -0.35f, 0.001f};
    std::vector<float> p = x;
    const PowerOfTwoScale sc = wage_quantize(x, WageSpec::of(WageKind::shift, 8), false, nullptr);
    CHECK(sc.scaled);
    CHECK(sc.exponent == -1);
    CHECK(x == std::vector<float>{127.0f / 256, -90.0f / 256, 0.0f});
    CHECK(wage_quantize(p, spec_of(WageKind::shift, 8, WageClip::pm1), false, nullptr).exponent == -1);
    CHECK(p == std::vector<float>{0.5f, -90.0f / 256, 0.0f});
  }
  SECTION("flag k=8 on {0.7, 0.003, -0.0001}: R = 0.5, s = 0.5/128 = 2^-8") {
    // u = 0.7 * 256 = 179.2 -> 179, saturates at 127 -> y = 127/256; u = 0.768 < 1 -> Q(0.768, 8) = round(98.3)/128
    // = 98/128 -> y = 98/128 * 2^-8 = 98 * 2^-15; u = -0.0256 -> round(3.2768) = 3 -> y = -3/128 * 2^-8 = -3 * 2^-15.
    std::vector<float> x = {0.7f, 0.003f, -0.0001f};
    const PowerOfTwoScale sc = wage_quantize(x, WageSpec::of(WageKind::flag, 8), false, nullptr);
    CHECK(sc.exponent == -1);
    CHECK(x == std::vector<float>{127.0f / 256, std::ldexp(98.0f, -15), std::ldexp(-3.0f, -15)});
  }
  SECTION("constant nearest k=8, const_bits 15, gscale 128 and 32, on {0.7, -0.2, 0}: R = 0.5") {
    // g 128: t = 128 * 1.4 = 179.2 -> 179 -> clamp 127 -> 127/2^14; 128 * -0.4 = -51.2 -> -51 -> -51/2^14; 0 -> 0.
    std::vector<float> x = {0.7f, -0.2f, 0.0f};
    std::vector<float> x32 = x;
    const PowerOfTwoScale sc = wage_quantize(x, WageSpec::of(WageKind::constant, 8), false, nullptr);
    CHECK(sc.exponent == -1);
    CHECK(x == std::vector<float>{std::ldexp(127.0f, -14), std::ldexp(-51.0f, -14), 0.0f});
    // g 32: 32 * 1.4 = 44.8 -> 45 -> clamp 31; 32 * -0.4 = -12.8 -> -13.
    WageSpec g32 = WageSpec::of(WageKind::constant, 8);
    g32.gscale = 32;
    wage_quantize(x32, g32, false, nullptr);
    CHECK(x32 == std::vector<float>{std::ldexp(31.0f, -14), std::ldexp(-13.0f, -14), 0.0f});
    // Ties with R = 1: t = 2.5 -> 2 (even), t = 3.5 -> 4, t = -2.5 -> -2.
    std::vector<float> t = {1.0f, 2.5f / 128, 3.5f / 128, -2.5f / 128};
    CHECK(wage_quantize(t, WageSpec::of(WageKind::constant, 8), false, nullptr).exponent == 0);
    CHECK(t == std::vector<float>{std::ldexp(127.0f, -14), std::ldexp(2.0f, -14), std::ldexp(4.0f, -14),
                                  std::ldexp(-2.0f, -14)});
  }
}

TEST_CASE("wageubn: outputs are integers of the stated width times the power-of-two step", "[wageubn]") {
  std::mt19937_64 rng(7);
  for (double sigma : {1e-3, 1.0, 50.0}) {
    std::normal_distribution<double> nd(0.0, sigma);
    std::vector<float> x(5000);
    for (float& v : x) v = static_cast<float>(nd(rng));
    double m = 0;
    for (float v : x) m = std::max(m, std::abs(static_cast<double>(v)));
    const int n = golden_n(m);
    const formats::PhiloxWords words(3);
    std::size_t bad = 0;
    for (WageClip clip : {WageClip::unit, WageClip::pm1}) {  // y / (2^n 2^-7) in [-127, 127] (unit), [-128, 128] (pm1)
      std::vector<float> y = x;
      if (wage_quantize(y, spec_of(WageKind::shift, 8, clip), false, nullptr).exponent != n) ++bad;
      const double lim = clip == WageClip::unit ? 127 : 128;
      for (float v : y) {
        const double q = std::ldexp(static_cast<double>(v), 7 - n);
        if (q != std::trunc(q) || std::abs(q) > lim) ++bad;
      }
    }
    {  // flag: z = y / s is an integer in 1..127 in magnitude, or |z| <= 1 on the 2^-7 grid
      std::vector<float> y = x;
      if (wage_quantize(y, WageSpec::of(WageKind::flag, 8), false, nullptr).exponent != n) ++bad;
      for (float v : y) {
        const double z = std::ldexp(static_cast<double>(v), 7 - n), z7 = std::ldexp(z, 7);
        const bool big = z == std::trunc(z) && std::abs(z) >= 1 && std::abs(z) <= 127;
        const bool small = std::abs(z) <= 1 && z7 == std::trunc(z7);
        if (!big && !small) ++bad;
      }
    }
    for (std::int64_t g : {128, 32})  // constant: y 2^14 is an integer in [-(g - 1), g - 1]
      for (bool sr : {false, true}) {
        WageSpec spec = WageSpec::of(WageKind::constant, 8);
        spec.gscale = g;
        std::vector<float> y = x;
        if (wage_quantize(y, spec, sr, sr ? &words : nullptr).exponent != n) ++bad;
        for (float v : y) {
          const double t = std::ldexp(static_cast<double>(v), 14);
          if (t != std::trunc(t) || std::abs(t) > static_cast<double>(g - 1)) ++bad;
        }
      }
    INFO("sigma " << sigma);
    CHECK(bad == 0);
  }
}

TEST_CASE("wageubn: stochastic constant rounding is unbiased, reproducible and seed-dependent", "[wageubn]") {
  // max|x| = 1 -> R = 1, g = 128: x = 10.25/128 gives t = 10.25 (up to 11 with probability 1/4) and x = -3.75/128
  // gives t = -3.75 (-4 with probability 3/4); x[0] = 1 gives t = 128, clamped to 127.
  const std::size_t n = 200001;
  std::vector<float> x(n);
  x[0] = 1.0f;
  for (std::size_t i = 1; i < n; ++i) x[i] = (i % 2) ? 10.25f / 128 : -3.75f / 128;
  const WageSpec spec = WageSpec::of(WageKind::constant, 8);
  const formats::PhiloxWords w(42), w2(43);
  std::vector<float> a = x, b = x, c = x;
  CHECK(wage_quantize(a, spec, true, &w, 1).exponent == 0);
  wage_quantize(b, spec, true, &w, 2);
  wage_quantize(c, spec, true, &w2, 1);
  double sum[2] = {0, 0};  // [0]: t = -3.75, [1]: t = 10.25
  std::size_t cnt[2] = {0, 0}, off_grid = 0, differ = 0, differ_seed = 0;
  for (std::size_t i = 1; i < n; ++i) {
    const double t = std::ldexp(static_cast<double>(a[i]), 14);
    sum[i % 2] += t, ++cnt[i % 2];
    if ((i % 2) ? (t != 10 && t != 11) : (t != -3 && t != -4)) ++off_grid;
    if (!same_bits(a[i], b[i])) ++differ;
    if (!same_bits(a[i], c[i])) ++differ_seed;
  }
  CHECK(a[0] == std::ldexp(127.0f, -14));
  CHECK(off_grid == 0);
  // Both fractions are 1/4 or 3/4: standard deviation sqrt(3/16) per element.
  CHECK(std::abs(sum[1] / cnt[1] - 10.25) < 5 * std::sqrt(0.1875 / cnt[1]));
  CHECK(std::abs(sum[0] / cnt[0] + 3.75) < 5 * std::sqrt(0.1875 / cnt[0]));
  CHECK(differ == 0);           // same seed again (with 2 threads): identical
  CHECK(differ_seed > n / 10);  // another seed: about 3/8 of the elements differ
  std::vector<float> e = x;  // nearest: 10.25 -> 10, -3.75 -> -4
  wage_quantize(e, spec, false, nullptr);
  CHECK(e[1] == std::ldexp(10.0f, -14));
  CHECK(e[2] == std::ldexp(-4.0f, -14));
}

TEST_CASE("wageubn: edge cases: zeros, empty, NaN and infinity, overflowing R, bad arguments", "[wageubn]") {
  const formats::PhiloxWords words(9);
  const WageSpec kinds[] = {WageSpec::of(WageKind::direct, 8), WageSpec::of(WageKind::shift, 8),
                            WageSpec::of(WageKind::flag, 8), WageSpec::of(WageKind::constant, 8)};
  SECTION("an all-zero tensor stays zero and is not scaled; an empty span is fine") {
    for (const WageSpec& spec : kinds)
      for (bool sr : {false, true}) {
        if (sr && spec.kind != WageKind::constant) continue;
        std::vector<float> x(1000, 0.0f);
        x[5] = -0.0f;
        const PowerOfTwoScale sc = wage_quantize(x, spec, sr, sr ? &words : nullptr, 2);
        CHECK_FALSE(sc.scaled);
        CHECK(std::all_of(x.begin(), x.end(), [](float v) { return v == 0.0f; }));
        std::vector<float> empty;
        CHECK_FALSE(wage_quantize(empty, spec, sr, sr ? &words : nullptr).scaled);
      }
  }
  SECTION("NaN or infinity is a QuantizeError naming the first such element, whatever the thread count") {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY})
      for (std::size_t pos : {std::size_t{0}, std::size_t{50000}, std::size_t{99999}}) {
        std::vector<float> x(100000, 0.25f);
        x[pos] = bad;
        if (pos + 1 < x.size()) x[pos + 1] = x[x.size() - 1] = bad;  // later ones are not named
        const std::string name = "element " + std::to_string(pos), later = "element " + std::to_string(pos + 1);
        for (int threads : {1, 2}) {
          INFO("bad " << bad << ", pos " << pos << ", threads " << threads);
          const std::string m0 = error_of<formats::QuantizeError>([&] { wage_max_abs(x, threads); });
          CHECK_THAT(m0, Catch::Contains(name + ":"));
          for (const WageSpec& spec : kinds) {
            std::vector<float> y = x;
            const std::string msg =
                error_of<formats::QuantizeError>([&] { wage_quantize(y, spec, false, nullptr, threads); });
            CHECK_THAT(msg, Catch::Contains(name));
            CHECK_THAT(msg, !Catch::Contains(later));
            if (pos != 99999) CHECK_THAT(msg, !Catch::Contains("element 99999"));
          }
        }
      }
  }
  SECTION("a tensor whose R would overflow float is a QuantizeError; n = 127 is fine") {
    // 3e38: log2 = 127.8 -> n = 128; 1.42 2^127: log2 = 127.506 -> 128; 1.4 2^127: log2 = 127.485 -> 127.
    for (float big : {3e38f, -3e38f, std::ldexp(1.42f, 127), FLT_MAX})
      for (std::size_t s = 1; s < 4; ++s) {
        std::vector<float> x = {1.0f, big};
        CHECK_THROWS_AS(wage_quantize(x, kinds[s], false, nullptr), formats::QuantizeError);
      }
    // shift: x / R = 1.4 -> 179/128 -> clip 127/128 -> y = 127 2^120; flag: u = x / 2^120 = 179.2 -> 127 -> 127 2^120.
    for (std::size_t s = 1; s < 3; ++s) {
      std::vector<float> x = {std::ldexp(1.4f, 127), 1.0f};
      const PowerOfTwoScale sc = wage_quantize(x, kinds[s], false, nullptr);
      CHECK(sc.exponent == 127);
      CHECK(x[0] == std::ldexp(127.0f, 120));
    }
  }
  SECTION("stochastic rounding is refused for direct, shift and flag") {
    for (std::size_t s = 0; s < 3; ++s) {
      std::vector<float> x = {0.3f, -0.2f};
      CHECK_THROWS_AS(wage_quantize(x, kinds[s], true, &words), std::invalid_argument);
    }
  }
  SECTION("WageSpec::validate refuses bad fields") {
    // kind, bits, gscale, const_bits -> whether validate() throws formats::FormatError
    struct Case { WageKind kind; int bits; std::int64_t gscale; int const_bits; bool bad; };
    const Case cases[] = {{WageKind::direct, 0, 0, 15, true},     {WageKind::direct, 33, 0, 15, true},
                          {WageKind::shift, 1, 0, 15, true},      {WageKind::shift, 25, 0, 15, true},
                          {WageKind::flag, 1, 0, 15, true},       {WageKind::constant, 25, 0, 15, true},
                          {WageKind::constant, 8, 3, 15, true},   {WageKind::constant, 8, 1, 15, true},
                          {WageKind::constant, 8, 96, 15, true},  {WageKind::constant, 8, 1 << 25, 15, true},
                          {WageKind::constant, 8, 0, 0, true},    {WageKind::constant, 8, 0, 61, true},
                          {WageKind::direct, 1, 0, 15, false},    {WageKind::direct, 32, 0, 15, false},
                          {WageKind::shift, 2, 0, 15, false},     {WageKind::flag, 24, 0, 15, false},
                          {WageKind::constant, 8, 2, 15, false},  {WageKind::constant, 8, 1 << 24, 60, false}};
    for (const Case& c : cases) {
      WageSpec s;  // clip: unit for shift (its default), none otherwise
      s.kind = c.kind, s.bits = c.bits, s.gscale = c.gscale, s.const_bits = c.const_bits;
      s.clip = c.kind == WageKind::shift ? WageClip::unit : WageClip::none;
      INFO(wage_kind_name(c.kind) << " bits " << c.bits << " gscale " << c.gscale << " const_bits " << c.const_bits);
      if (c.bad)
        CHECK_THROWS_AS(s.validate(), bitsim::formats::FormatError);
      else
        CHECK_NOTHROW(s.validate());
    }
  }
}

TEST_CASE("wageubn: WageSpec defaults and text() spellings", "[wageubn]") {
  CHECK(WageSpec::of(WageKind::direct, 8).clip == WageClip::none);
  CHECK(WageSpec::of(WageKind::shift, 8).clip == WageClip::unit);
  CHECK(WageSpec::of(WageKind::constant, 8).dynamic_range() == 128);
  CHECK(WageSpec::of(WageKind::constant, 8).const_bits == 15);
  CHECK(WageSpec::of(WageKind::direct, 8).text() == "direct(bits=8)");
  CHECK(spec_of(WageKind::direct, 8, WageClip::unit).text() == "direct(bits=8,clip=unit)");
  CHECK(WageSpec::of(WageKind::shift, 8).text() == "shift(bits=8)");
  CHECK(spec_of(WageKind::shift, 8, WageClip::pm1).text() == "shift(bits=8,clip=pm1)");
  CHECK(WageSpec::of(WageKind::flag, 8).text() == "flag(bits=8)");
  WageSpec c = WageSpec::of(WageKind::constant, 8);
  CHECK(c.text() == "constant(bits=8)");
  c.gscale = 32;
  CHECK(c.text() == "constant(bits=8,gscale=32)");
  c.gscale = 0;
  c.const_bits = 12;
  CHECK(c.text() == "constant(bits=8,const_bits=12)");
  c.gscale = 32;
  CHECK(c.text() == "constant(bits=8,const_bits=12,gscale=32)");  // order bits, clip, const_bits, gscale
}

TEST_CASE("wageubn: the vector loops equal the scalar reference bit for bit on every SIMD target", "[wageubn][cpu]") {
  struct Guard {
    ~Guard() { formats::set_simd_target("best"); }
  } guard;
  // Random finite bit patterns of every exponent (with signed zeros and subnormals among them), scaled
  // into [-M, M] by the tensor's first element; plus make_tensor's ties, clip bounds and subnormals.
  auto random_bits = [](std::size_t n, float M, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> x(n);
    for (float& v : x) {
      do {
        v = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
      } while (!std::isfinite(v) || std::abs(v) > M);
    }
    x[0] = M;
    return x;
  };
  std::vector<WageSpec> specs;
  for (int k : {1, 2, 8, 16, 32})
    for (WageClip c : {WageClip::none, WageClip::unit, WageClip::pm1}) specs.push_back(spec_of(WageKind::direct, k, c));
  for (int k : {2, 8, 16, 24}) {
    specs.push_back(spec_of(WageKind::shift, k, WageClip::unit));
    specs.push_back(spec_of(WageKind::shift, k, WageClip::pm1));
    specs.push_back(WageSpec::of(WageKind::flag, k));
    specs.push_back(WageSpec::of(WageKind::constant, k));
  }
  WageSpec g32 = WageSpec::of(WageKind::constant, 8);
  g32.gscale = 32;
  specs.push_back(g32);
  const formats::PhiloxWords words(77);
  std::uint64_t seed = 500;
  std::size_t compared = 0, differing = 0;
  std::ostringstream first;
  for (const std::string& target : formats::simd_targets()) {
    formats::set_simd_target(target);
    for (float M : {3e-39f, 1e-20f, 0.7f, 1.0f, 3.0f, 1000.0f, 3e38f}) {
      const double s = std::ldexp(1.0, golden_n(M) - 7);
      for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{4099}, std::size_t{70001}}) {
        ++seed;
        const std::vector<std::vector<float>> inputs = {random_bits(n, M, seed),
                                                        make_tensor(n, M, s, s / 2, {M / 2.0, -M / 3.0}, seed)};
        for (const std::vector<float>& x : inputs)
          for (const WageSpec& spec : specs)
            for (bool sr : {false, true}) {
              if (sr && spec.kind != WageKind::constant) continue;
              const formats::PhiloxWords* w = sr ? &words : nullptr;
              // From the second element too: every vector then starts off its alignment.
              for (std::size_t offset : {std::size_t{0}, std::size_t{1}}) {
                if (offset >= x.size()) continue;
                std::vector<float> got(x.begin() + static_cast<std::ptrdiff_t>(offset), x.end()), want = got;
                const std::string got_error = outcome_of([&] { (void)wage_quantize(got, spec, sr, w, 2); });
                const std::string want_error = outcome_of([&] { (void)wage_quantize(want, spec, sr, w, 2, Loops::scalar); });
                ++compared;
                bool same = got_error == want_error;
                for (std::size_t i = 0; same && i < got.size(); ++i) same = same_bits(got[i], want[i]);
                if (!same && differing++ == 0) {
                  first << target << ", " << spec.text() << (sr ? " sr" : "") << ", max " << M << ", n " << n
                        << ", offset " << offset << ", error '" << got_error << "' / '" << want_error << "'";
                  for (std::size_t i = 0; i < got.size(); ++i)
                    if (!same_bits(got[i], want[i])) {
                      first << "; element " << i << ": x " << x[i + offset] << " got " << got[i] << " want " << want[i];
                      break;
                    }
                }
              }
            }
      }
    }
  }
  INFO(first.str());
  CHECK(compared > 1000);
  CHECK(differing == 0);
}
