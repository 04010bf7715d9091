// analysis/quantizer_stats: the statistics of Graham 2017 Table 2 (correlation and sd of L(N(X)),
// SNR, clamp fractions), exact for N(0,1) and by Monte Carlo, and the samplers behind them.
// References: the paper's printed Table 2, an independent numerical integration over Quantizer::quantize,
// thresholds derived by hand from the formulas of the paper's Table 1 / docs/spec/formats.md, and the
// moments of the distributions.
#include "analysis/quantizer_stats.hpp"
#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

using namespace bitsim;
using analysis::AnalysisError;
using analysis::Distribution;
using analysis::DistributionKind;
using analysis::QuantizerStats;
using Catch::Matchers::Contains;

namespace {

const Distribution kNormal{DistributionKind::normal, 0};
Distribution student(double df) { return {DistributionKind::student_t, df}; }

// Reference normal functions for the tests (textbook formulas).
double upper_tail(double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); }          // P(X >= x)
double central(double t) { return std::erf(t / std::sqrt(2.0)); }                     // P(|X| < t)
double density(double x) { return std::exp(-x * x / 2) / std::sqrt(2 * std::numbers::pi); }

// E[Q], E[XQ], E[Q^2] and E[X^2] for X ~ N(0,1) restricted to [-12, 12], by composite Simpson between
// the jumps of Q, which are located by a scan of step 1e-3 and bisection; Q from Quantizer::quantize.
struct Moments {
  double eq = 0, exq = 0, eq2 = 0, ex2 = 0;
};
Moments integrate(const formats::Format& f) {
  const formats::Quantizer q(f);
  auto val = [&](double x) { return q.quantize(x).value; };
  const double lo = -12, hi = 12;
  const int steps = 24000;
  std::vector<double> breaks = {lo};
  double prev_x = lo, prev_v = val(lo);
  for (int k = 1; k <= steps; ++k) {
    const double x = lo + (hi - lo) * (k + 0.5) / (steps + 1);
    const double v = val(x);
    if (v != prev_v) {
      double a = prev_x, b = x;
      for (;;) {
        const double m = 0.5 * (a + b);
        if (!(m > a && m < b)) break;
        if (val(m) == prev_v) a = m;
        else b = m;
      }
      CHECK(val(b) == v);  // one jump per scan step
      breaks.push_back(b);
    }
    prev_x = x;
    prev_v = v;
  }
  breaks.push_back(hi);
  Moments m;
  for (std::size_t p = 0; p + 1 < breaks.size(); ++p) {
    const double a = breaks[p], b = breaks[p + 1];
    if (!(b > a)) continue;
    const double v = val(0.5 * (a + b));
    const int n = 2 * std::max(1, static_cast<int>(std::ceil((b - a) / 2e-3)));
    const double h = (b - a) / n;
    double i0 = 0, i1 = 0, i2 = 0;
    for (int j = 0; j <= n; ++j) {
      const double x = a + j * h, w = (j == 0 || j == n) ? 1 : (j % 2 ? 4 : 2);
      i0 += w * density(x);
      i1 += w * x * density(x);
      i2 += w * x * x * density(x);
    }
    i0 *= h / 3;
    i1 *= h / 3;
    i2 *= h / 3;
    m.eq += v * i0;
    m.exq += v * i1;
    m.eq2 += v * v * i0;
    m.ex2 += i2;
  }
  return m;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool identical(const QuantizerStats& a, const QuantizerStats& b) {
  return same_bits(a.correlation, b.correlation) && same_bits(a.sd, b.sd) && same_bits(a.mean, b.mean) &&
         same_bits(a.snr_db, b.snr_db) && same_bits(a.clamped_low, b.clamped_low) &&
         same_bits(a.clamped_high, b.clamped_high) && a.samples == b.samples;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

TEST_CASE("exact N(0,1) statistics of L2, L3, L4 match the paper's Table 2", "[analysis]") {
  // Graham 2017, Table 2, rows N(0,1): correlation 0.918 / 0.965 / 0.981, sd 1.000 (three decimals).
  const struct {
    const char* format;
    double corr;
  } rows[] = {{"graham_L2", 0.918}, {"graham_L3", 0.965}, {"graham_L4", 0.981}};
  for (const auto& r : rows) {
    INFO(r.format);
    const QuantizerStats s = analysis::exact_normal_stats(formats::parse_format(r.format));
    CHECK(std::abs(s.correlation - r.corr) < 0.0005);
    CHECK(std::abs(s.sd - 1.000) < 0.0005);
    CHECK(std::abs(s.mean) < 1e-12);  // symmetric formats
    CHECK(s.samples == 0);
  }
}

TEST_CASE("exact N(0,1) statistics agree with an independent numerical integration", "[analysis]") {
  for (const char* name : {"graham_L2", "graham_L3", "graham_L4", "graham_L5", "graham_U4", "graham_U5", "graham_U8",
                           "graham_O4", "fp8_e4m3", "fp6_e2m3"}) {
    INFO(name);
    const formats::Format f = formats::parse_format(name);
    const QuantizerStats s = analysis::exact_normal_stats(f);
    const Moments m = integrate(f);
    REQUIRE(std::abs(m.ex2 - 1) < 1e-9);  // the integration itself is accurate
    const double var = m.eq2 - m.eq * m.eq;
    CHECK(std::abs(s.mean - m.eq) < 1e-6);
    CHECK(std::abs(s.sd - std::sqrt(var)) < 1e-6);
    CHECK(std::abs(s.correlation - m.exq / std::sqrt(var)) < 1e-6);
    CHECK(std::abs(s.snr_db - 10 * std::log10(m.ex2 / (m.eq2 - 2 * m.exq + m.ex2))) < 1e-6);
  }
}

TEST_CASE("exact clamp fractions follow from the formats' thresholds", "[analysis]") {
  struct Case {
    const char* format;
    double high, low;
  };
  // Log formats n = floor(k log2(C|x|)) clamp high when n > hi, i.e. |x| >= 2^((hi+1)/k) / C, and low
  // when n < lo, i.e. |x| < 2^(lo/k) / C, on both signs. Midrise n = floor(S x) clamps high when
  // S x >= hi + 1 and low when S x < lo (one side each). O4 clamps high when 1 + |x| >= 1.29^8 and never low.
  const Case cases[] = {
      {"graham_L2", 2 * upper_tail(2 / 1.034), central(0.5 / 1.034)},
      {"graham_L3", 2 * upper_tail(8 / 1.316), central(0.5 / 1.316)},
      {"graham_L4", 2 * upper_tail(32 / 1.36), central(0.125 / 1.36)},
      {"graham_L5", 2 * upper_tail(32 / 1.177), central(0.125 / 1.177)},
      {"graham_U4", upper_tail(4), upper_tail(4)},
      {"graham_U5", upper_tail(16.0 / 3), upper_tail(16.0 / 3)},
      {"graham_U8", upper_tail(16), upper_tail(16)},
      {"graham_O4", 2 * upper_tail(std::pow(1.29, 8) - 1), 0},
      // fp8_e4m3: overflow from |x| > 464 (464 ties to 448); tiny after rounding below
      // 2^-6 - 2^-11 (the midpoint 0x1.fp-7 ties up to 2^-6), on both signs.
      {"fp8_e4m3", 2 * upper_tail(464), central(0x1p-6 - 0x1p-11)},
  };
  for (const Case& c : cases) {
    INFO(c.format);
    const QuantizerStats s = analysis::exact_normal_stats(formats::parse_format(c.format));
    CHECK(s.clamped_high == Approx(c.high).epsilon(1e-9).margin(1e-300));
    CHECK(s.clamped_low == Approx(c.low).epsilon(1e-9).margin(1e-300));
  }
  // The L4 numbers are not degenerate: ~7.3% clamp low, ~1e-122 high.
  const QuantizerStats l4 = analysis::exact_normal_stats(formats::parse_format("graham_L4"));
  CHECK(l4.clamped_low > 0.07);
  CHECK(l4.clamped_high > 0);
}

TEST_CASE("exact cells of graham_L4 are the formula's intervals", "[analysis]") {
  // Cells of L4 on the positive side: [2^n / 1.36, 2^(n+1) / 1.36) with value 2^n for n = -3..4
  // (n = -3 from 0, n = 4 to infinity); the double boundaries are within an ulp of 2^(n+1)/1.36.
  const std::vector<analysis::Cell> cells = analysis::quantizer_cells(formats::parse_format("graham_L4"));
  std::vector<analysis::Cell> pos;
  for (const auto& c : cells)
    if (c.lo >= 0 && c.value > 0) pos.push_back(c);
  REQUIRE(pos.size() == 8);
  for (int n = -3; n <= 4; ++n) {
    const auto& c = pos[static_cast<std::size_t>(n + 3)];
    CHECK(c.value == std::ldexp(1.0, n));
    if (n < 4) CHECK(c.hi == Approx(std::ldexp(1.0, n + 1) / 1.36).epsilon(1e-15));
    else CHECK(std::isinf(c.hi));
  }
  CHECK(cells.size() == 17);  // 8 negative, the zero cell {-0, +0}, 8 positive
}

TEST_CASE("Monte Carlo statistics converge to the exact values", "[analysis]") {
  for (const char* name : {"graham_L3", "graham_L4", "graham_U4", "graham_O4"}) {
    INFO(name);
    const formats::Format f = formats::parse_format(name);
    const QuantizerStats exact = analysis::exact_normal_stats(f);
    // Standard error of one N = 10^6 estimate, from 20 repeats of N = 10^5: sd / sqrt(10).
    const auto runs = analysis::repeated_sample_stats(f, kNormal, 100'000, 1000, 20);
    const analysis::StatsSummary spread = analysis::summarize(runs);
    const double se_corr = spread.sd.correlation / std::sqrt(10.0), se_sd = spread.sd.sd / std::sqrt(10.0);
    REQUIRE(se_corr > 0);
    REQUIRE(se_sd > 0);
    const QuantizerStats big = analysis::sample_stats(f, kNormal, 1'000'000, 7);
    CHECK(std::abs(big.correlation - exact.correlation) < 5 * se_corr);
    CHECK(std::abs(big.sd - exact.sd) < 5 * se_sd);
    // Clamp fractions are binomial proportions: SE sqrt(p (1 - p) / N) (plus a count's worth).
    const double se_low = std::sqrt(exact.clamped_low * (1 - exact.clamped_low) / 1e6) + 1e-6;
    CHECK(std::abs(big.clamped_low - exact.clamped_low) < 5 * se_low);

    // The error shrinks with N: RMS error over 10 repeats at N = 10^3 and N = 10^5 (ratio ~10 expected).
    auto rms = [&](std::int64_t n, std::uint64_t seed) {
      const auto rr = analysis::repeated_sample_stats(f, kNormal, n, seed, 10);
      double s = 0;
      for (const auto& r : rr) s += (r.correlation - exact.correlation) * (r.correlation - exact.correlation);
      return std::sqrt(s / 10);
    };
    const double small_err = rms(1'000, 50), large_err = rms(100'000, 60);
    CHECK(large_err < small_err / 3);
  }
}

TEST_CASE("the same seed gives bit-identical statistics, another seed different ones", "[analysis]") {
  const formats::Format l4 = formats::parse_format("graham_L4");
  for (const Distribution& d : {kNormal, student(3)}) {
    const QuantizerStats a = analysis::sample_stats(l4, d, 20'000, 42), b = analysis::sample_stats(l4, d, 20'000, 42);
    CHECK(identical(a, b));
    const QuantizerStats c = analysis::sample_stats(l4, d, 20'000, 43);
    CHECK(c.correlation != a.correlation);
    CHECK(c.sd != a.sd);
    // The streaming computation equals stats_of_sample on the same samples held in memory.
    std::vector<double> x(20'000);
    analysis::draw_samples(d, 42, 0, x);
    CHECK(identical(a, analysis::stats_of_sample(formats::Quantizer(l4), x)));
  }
  // Repeat r uses seed S + r.
  const auto runs = analysis::repeated_sample_stats(l4, student(3), 5'000, 100, 3);
  REQUIRE(runs.size() == 3);
  CHECK(identical(runs[2], analysis::sample_stats(l4, student(3), 5'000, 102)));
  // Samples are counter-based: any slice equals the same elements of a longer draw.
  std::vector<double> all(40), part(13);
  analysis::draw_samples(student(2.5), 9, 0, all);
  analysis::draw_samples(student(2.5), 9, 17, part);
  for (std::size_t j = 0; j < part.size(); ++j) CHECK(same_bits(part[j], all[17 + j]));
}

TEST_CASE("stats_of_sample on a hand-worked sample", "[analysis]") {
  const formats::Quantizer l4(formats::parse_format("graham_L4"));
  // X = {-1, 1}: N(X) = X; L4(+-1) = +-2^floor(log2 1.36) = +-1: Q = N(X).
  const std::vector<double> two = {-1, 1};
  const QuantizerStats a = analysis::stats_of_sample(l4, two);
  CHECK(a.correlation == Approx(1));
  CHECK(a.sd == Approx(1));
  CHECK(a.mean == 0);
  CHECK(std::isinf(a.snr_db));
  CHECK(a.clamped_low == 0);
  CHECK(a.clamped_high == 0);
  CHECK(a.samples == 2);
  // X = {0, 0, 0, 10}: mean 2.5, biased variance 18.75, N(X) = {-1/sqrt3 (x3), sqrt3};
  // L4(-0.577) = -2^floor(log2 0.785) = -0.5, L4(1.732) = 2^floor(log2 2.356) = 2.
  const std::vector<double> four = {0, 0, 0, 10};
  const QuantizerStats b = analysis::stats_of_sample(l4, four);
  const double r3 = std::sqrt(3.0);
  const double mean_q = (3 * -0.5 + 2) / 4, var_q = (3 * 0.25 + 4) / 4 - mean_q * mean_q;
  const double err = 3 * (-0.5 + 1 / r3) * (-0.5 + 1 / r3) + (2 - r3) * (2 - r3);
  CHECK(b.mean == Approx(mean_q));
  CHECK(b.sd == Approx(std::sqrt(var_q)));
  CHECK(b.correlation == Approx(1));  // two values each, in the same order
  CHECK(b.snr_db == Approx(10 * std::log10(4 / err)));
  // U4 on the same sample: floor(2 * -0.577) = -2 -> -0.75; floor(2 * 1.732) = 3 -> 1.75.
  const QuantizerStats c = analysis::stats_of_sample(formats::Quantizer(formats::parse_format("graham_U4")), four);
  CHECK(c.mean == Approx((3 * -0.75 + 1.75) / 4));
}

TEST_CASE("normal and Student-t samplers have the right distribution", "[analysis]") {
  const formats::PhiloxWords rng(5);
  // The documented word layout: sample i uses words 2^32 i + 0..3, Box-Muller (cosine branch).
  for (std::uint64_t i : {0ull, 1ull, 77ull, 123456ull}) {
    std::uint32_t w[4];
    for (int j = 0; j < 4; ++j) w[j] = rng.word((i << 32) + static_cast<std::uint64_t>(j));
    const double u1 = static_cast<double>(((((std::uint64_t)w[0] << 32) | w[1]) >> 11) + 1) / 9007199254740992.0;
    const double u2 = static_cast<double>((((std::uint64_t)w[2] << 32) | w[3]) >> 11) / 9007199254740992.0;
    CHECK(analysis::normal_draw(rng, i) == std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2));
  }
  CHECK(analysis::uniform_open_closed(0xFFFFFFFFu, 0xFFFFFFFFu) == 1.0);
  CHECK(analysis::uniform_open_closed(0, 0) > 0);
  CHECK(analysis::uniform_closed_open(0xFFFFFFFFu, 0xFFFFFFFFu) < 1.0);
  CHECK(analysis::uniform_closed_open(0, 0) == 0);

  const std::size_t n = 1'000'000;
  const double dn = static_cast<double>(n);
  std::vector<double> x(n);
  // Normal: mean 0 (SE 1/sqrt N), variance 1 (SE sqrt(2/N)), E X^4 = 3 (SE sqrt(96/N)), P(|X| < 1).
  analysis::draw_samples(kNormal, 11, 0, x);
  {
    std::vector<double> x2(n), x4(n);
    double inside = 0;
    for (std::size_t i = 0; i < n; ++i) {
      x2[i] = x[i] * x[i];
      x4[i] = x2[i] * x2[i];
      inside += std::abs(x[i]) < 1;
    }
    CHECK(std::abs(mean_of(x)) < 5 / std::sqrt(dn));
    CHECK(std::abs(mean_of(x2) - 1) < 5 * std::sqrt(2 / dn));
    CHECK(std::abs(mean_of(x4) - 3) < 5 * std::sqrt(96 / dn));
    const double p = central(1);
    CHECK(std::abs(inside / dn - p) < 5 * std::sqrt(p * (1 - p) / dn));
  }
  // t(5): mean 0, variance 5/3; E X^4 = 3 * 25 / (3 * 1) = 25, so Var X^2 = 25 - 25/9.
  analysis::draw_samples(student(5), 12, 0, x);
  {
    std::vector<double> x2(n);
    for (std::size_t i = 0; i < n; ++i) x2[i] = x[i] * x[i];
    CHECK(std::abs(mean_of(x)) < 5 * std::sqrt(5.0 / 3 / dn));
    CHECK(std::abs(mean_of(x2) - 5.0 / 3) < 5 * std::sqrt((25 - 25.0 / 9) / dn));
  }
  // t(1) is Cauchy: the median of |t| is 1, i.e. P(|t| < 1) = 1/2.
  // t(3): P(|t| < 1) = 2 F(1) - 1 with F(t) = 1/2 + (atan(t/sqrt3) + (t/sqrt3) / (1 + t^2/3)) / pi.
  const double r3 = std::sqrt(3.0);
  const double p_t3 = 2 * (std::atan(1 / r3) + (1 / r3) / (1 + 1.0 / 3)) / std::numbers::pi;
  for (const auto& [df, p] : {std::pair{1.0, 0.5}, std::pair{3.0, p_t3}}) {
    INFO("df " << df);
    analysis::draw_samples(student(df), 13, 0, x);
    double inside = 0;
    for (double v : x) inside += std::abs(v) < 1;
    CHECK(std::abs(inside / dn - p) < 5 * std::sqrt(p * (1 - p) / dn));
  }
}

TEST_CASE("the gamma sampler has the right mean and variance, with and without the boost", "[analysis]") {
  const formats::PhiloxWords rng(21);
  for (double a : {0.25, 0.5, 1.0, 1.5, 4.5}) {
    INFO("shape " << a);
    const std::size_t n = 400'000;
    double s1 = 0, s2 = 0;
    std::size_t negative = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double g = analysis::gamma_draw(rng, i, a);
      negative += !(g >= 0);
      s1 += g;
      s2 += g * g;
    }
    CHECK(negative == 0);
    const double dn = static_cast<double>(n);
    // E G = a, Var G = a; E G^2 = a (a + 1), Var G^2 = a(a+1)(a+2)(a+3) - a^2 (a+1)^2.
    CHECK(std::abs(s1 / dn - a) < 5 * std::sqrt(a / dn));
    const double v2 = a * (a + 1) * (a + 2) * (a + 3) - a * a * (a + 1) * (a + 1);
    CHECK(std::abs(s2 / dn - a * (a + 1)) < 5 * std::sqrt(v2 / dn));
  }
}

TEST_CASE("bad arguments throw errors naming the problem", "[analysis]") {
  const formats::Format l4 = formats::parse_format("graham_L4");
  CHECK_THROWS_WITH(analysis::sample_stats(l4, kNormal, 1, 0), Contains("samples"));
  CHECK_THROWS_WITH(analysis::sample_stats(l4, kNormal, 0, 0), Contains("samples"));
  CHECK_THROWS_WITH(analysis::sample_stats(l4, kNormal, analysis::kMaxSamples + 1, 0), Contains("at most"));
  CHECK_THROWS_WITH(analysis::sample_stats(l4, student(0), 100, 0), Contains("df"));
  CHECK_THROWS_WITH(analysis::sample_stats(l4, student(-1), 100, 0), Contains("df"));
  CHECK_THROWS_WITH(analysis::sample_stats(l4, student(std::nan("")), 100, 0), Contains("df"));
  CHECK_THROWS_AS(analysis::student_t_draw(formats::PhiloxWords(0), 0, 0), AnalysisError);
  CHECK_THROWS_WITH(analysis::gamma_draw(formats::PhiloxWords(0), 0, -2), Contains("shape"));
  CHECK_THROWS_WITH(analysis::repeated_sample_stats(l4, kNormal, 100, 0, 0), Contains("repeats"));
  CHECK_THROWS_WITH(analysis::exact_normal_stats(formats::parse_format("fp32")), Contains("at most 16 bits"));
  CHECK_THROWS_WITH(analysis::exact_normal_stats(formats::parse_format("fixed(i=7,f=0,overflow=wrap)")),
                    Contains("monotone"));
  const std::vector<double> flat = {2, 2, 2};
  CHECK_THROWS_WITH(analysis::stats_of_sample(formats::Quantizer(l4), flat), Contains("variance is zero"));
  const std::vector<double> one = {1};
  CHECK_THROWS_WITH(analysis::stats_of_sample(formats::Quantizer(l4), one), Contains("samples"));
  const std::vector<double> with_inf = {1, INFINITY, 2};
  CHECK_THROWS_WITH(analysis::stats_of_sample(formats::Quantizer(l4), with_inf), Contains("inf"));
  CHECK_THROWS_AS(analysis::summarize({}), AnalysisError);
}

TEST_CASE("exact statistics report infinite values honestly", "[analysis]") {
  // float(e=2,m=1) with Inf: largest finite 3, so |x| > 3.5 rounds to +-inf: E[Q^2] is infinite.
  const QuantizerStats s = analysis::exact_normal_stats(formats::parse_format("float(e=2,m=1)"));
  CHECK(std::isinf(s.sd));
  CHECK(std::isnan(s.correlation));
  CHECK(std::isnan(s.mean));  // both +inf and -inf occur
  CHECK(s.snr_db == -INFINITY);
  // Overflow: the magnitude rounded with unbounded exponent exceeds 3: |x| > 3.5 (3.5 ties to 4 = 1.0b * 2^2,
  // the even index), so |x| >= 3.5 on both signs.
  CHECK(s.clamped_high == Approx(2 * upper_tail(3.5)).epsilon(1e-9));
  // A saturating variant stays finite.
  const QuantizerStats sat = analysis::exact_normal_stats(formats::parse_format("float(e=2,m=1,overflow=saturate)"));
  CHECK(std::isfinite(sat.sd));
  CHECK(std::isfinite(sat.correlation));
}
