// analysis/tensor_stats: the per-tensor statistics of the HDF5 log, against values computed here
// independently (long double, one element at a time, std::ilogb for the histogram) on tensors whose
// counts of zeros, underflows, saturations and overflows are known by construction.
#include "formats/format_limits.hpp"
#include "analysis/tensor_stats.hpp"
#include "formats/format.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace bitsim;
using analysis::kHistBins;
using analysis::kHistMinExponent;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// The textbook two-pass moments over the finite values, in long double.
struct Naive {
  long double n = 0, mean = 0, m2 = 0, m3 = 0, m4 = 0, mn = INFINITY, mx = -INFINITY;
  std::uint64_t zeros = 0, nan = 0, pinf = 0, ninf = 0;
  std::vector<std::uint64_t> hist = std::vector<std::uint64_t>(kHistBins, 0);
};

Naive naive(const std::vector<float>& x) {
  Naive r;
  long double sum = 0;
  for (float f : x) {
    if (std::isnan(f)) ++r.nan;
    else if (std::isinf(f)) ++(f > 0 ? r.pinf : r.ninf);
    else {
      r.n += 1;
      sum += f;
      r.mn = std::min<long double>(r.mn, f);
      r.mx = std::max<long double>(r.mx, f);
      if (f == 0) ++r.zeros;
      else ++r.hist[static_cast<std::size_t>(std::ilogb(f) - kHistMinExponent)];  // ilogb = floor(log2|x|)
    }
  }
  r.mean = sum / r.n;
  for (float f : x) {
    if (!std::isfinite(f)) continue;
    const long double d = f - r.mean;
    r.m2 += d * d;
    r.m3 += d * d * d;
    r.m4 += d * d * d * d;
  }
  r.m2 /= r.n;
  r.m3 /= r.n;
  r.m4 /= r.n;
  return r;
}

void check_side(const analysis::SideStats& s, const std::vector<float>& x) {
  const Naive r = naive(x);
  CHECK(s.finite == static_cast<std::uint64_t>(r.n));
  CHECK(s.zeros == r.zeros);
  CHECK(s.nan == r.nan);
  CHECK(s.pos_inf == r.pinf);
  CHECK(s.neg_inf == r.ninf);
  CHECK(s.mean == Approx(static_cast<double>(r.mean)).epsilon(1e-12).margin(1e-15));
  CHECK(s.std == Approx(std::sqrt(static_cast<double>(r.m2))).epsilon(1e-11));
  CHECK(s.skewness == Approx(static_cast<double>(r.m3 / std::pow(r.m2, 1.5L))).epsilon(1e-9).margin(1e-9));
  CHECK(s.kurtosis == Approx(static_cast<double>(r.m4 / (r.m2 * r.m2))).epsilon(1e-9));
  CHECK(s.min == static_cast<double>(r.mn));
  CHECK(s.max == static_cast<double>(r.mx));
  CHECK(s.absmax == std::max(std::fabs(static_cast<double>(r.mn)), std::fabs(static_cast<double>(r.mx))));
  CHECK(s.hist == r.hist);
}

std::vector<float> normal_tensor(std::size_t n, float mean, float sd, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, sd);
  std::vector<float> x(n);
  for (float& v : x) v = d(g);
  return x;
}

}  // namespace

TEST_CASE("log2 bins are floor(log2|x|) over the whole double range", "[analysis][stats]") {
  CHECK(kHistBins == 2098);
  CHECK(analysis::log2_bin(1.0f) == 1074);  // 2^0
  CHECK(analysis::log2_bin(0.75f) == 1073);  // 2^-1 <= 0.75 < 2^0
  CHECK(analysis::log2_bin(-3.0f) == 1075);
  CHECK(analysis::log2_bin(std::numeric_limits<float>::denorm_min()) == -149 + 1074);
  CHECK(analysis::log2_bin(std::numeric_limits<float>::max()) == 127 + 1074);
  CHECK(analysis::log2_bin(std::numeric_limits<double>::denorm_min()) == 0);
  CHECK(analysis::log2_bin(std::numeric_limits<double>::max()) == kHistBins - 1);
  std::mt19937 g(7);
  for (int i = 0; i < 100000; ++i) {  // random bit patterns: every exponent, subnormals included
    const std::uint32_t b = g();
    float f;
    std::memcpy(&f, &b, 4);
    if (!std::isfinite(f) || f == 0) continue;
    REQUIRE(analysis::log2_bin(f) == std::ilogb(f) - kHistMinExponent);
    REQUIRE(analysis::log2_bin(static_cast<double>(f)) == std::ilogb(f) - kHistMinExponent);
  }
}

TEST_CASE("side statistics of {1, 2, 3, 4} by hand", "[analysis][stats]") {
  analysis::SideStats s;
  analysis::side_stats(std::vector<float>{1, 2, 3, 4}, s);
  CHECK(s.mean == 2.5);
  CHECK(s.std == Approx(std::sqrt(1.25)));  // deviations +-1.5, +-0.5: m2 = (2*2.25 + 2*0.25)/4
  CHECK(s.skewness == Approx(0).margin(1e-15));
  CHECK(s.kurtosis == Approx(1.64));  // m4 = (2*5.0625 + 2*0.0625)/4 = 2.5625; / 1.25^2
  CHECK(s.hist[1074] == 1);  // 1
  CHECK(s.hist[1075] == 2);  // 2, 3
  CHECK(s.hist[1076] == 1);  // 4
}

TEST_CASE("side statistics equal the naive computation, zeros, subnormals and non-finite values included",
          "[analysis][stats]") {
  // 200,000 values: several 2^15-element blocks, a large offset (tests the block merge's stability),
  // exact zeros of both signs, subnormals, infinities and NaNs.
  std::vector<float> x = normal_tensor(200000, 1000.0f, 3.0f, 1);
  for (std::size_t i = 0; i < x.size(); i += 97) x[i] = (i % 2) ? 0.0f : -0.0f;
  for (std::size_t i = 5; i < x.size(); i += 1001) x[i] = std::ldexp(1.0f, -140 - static_cast<int>(i % 9));
  x[12345] = kInf;
  x[54321] = -kInf;
  x[99999] = kNaN;
  for (int threads : {1, 2, 3}) {
    analysis::SideStats s;
    analysis::side_stats(x, s, threads);
    check_side(s, x);
  }
  SECTION("a tensor without finite values") {
    analysis::SideStats s;
    analysis::side_stats(std::vector<float>{kNaN, kInf}, s);
    CHECK(s.finite == 0);
    CHECK(std::isnan(s.mean));
    CHECK(s.nan == 1);
    CHECK(s.pos_inf == 1);
  }
}

TEST_CASE("rounding statistics: underflow and saturation counts known by construction", "[analysis][stats]") {
  // fixed(i=3,f=4): step 1/16, two's complement codes -128..127, so values -8 .. 7.9375, saturating.
  // Build: 500 values in (8.1, 100) (each saturates to 7.9375), 500 in (-100, -8.1) (to -8), 700
  // values with |x| < 1/64 (each rounds to 0), 50 exact zeros (not an underflow), and 5000 values
  // with 0.5 <= |x| <= 7 (neither).
  const formats::Format f = formats::parse_format("fixed(i=3,f=4)");
  const formats::Quantizer q(f);
  std::mt19937 g(3);
  std::uniform_real_distribution<float> big(8.1f, 100.0f), tiny(-1.0f / 64, 1.0f / 64), mid(0.5f, 7.0f);
  std::vector<float> before;
  for (int i = 0; i < 1000; ++i) before.push_back(i % 2 ? big(g) : -big(g));
  for (int i = 0; i < 700; ++i) {
    float t = tiny(g);
    before.push_back(t == 0 ? 1e-3f : t);
  }
  for (int i = 0; i < 50; ++i) before.push_back(0.0f);
  for (int i = 0; i < 5000; ++i) before.push_back(i % 2 ? mid(g) : -mid(g));
  std::shuffle(before.begin(), before.end(), g);
  std::vector<float> after(before.size());
  q.quantize(before, after);

  const analysis::RoundingLimits lim = formats::finite_limits(f);
  CHECK(lim.max_finite == 7.9375);
  CHECK(lim.min_finite == -8);
  CHECK(lim.codes == 256);
  analysis::TensorStats s;
  std::vector<std::uint32_t> scratch;
  analysis::tensor_stats(before, after, lim, s, scratch);
  CHECK(s.count == before.size());
  CHECK(s.saturated == 1000);
  CHECK(s.underflow == 700);
  CHECK(s.overflow == 0);
  check_side(s.before, before);
  check_side(s.after, after);
  long double e2 = 0, s2 = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const long double d = static_cast<long double>(after[i]) - before[i];
    e2 += d * d;
    s2 += static_cast<long double>(before[i]) * before[i];
  }
  CHECK(s.mse == Approx(static_cast<double>(e2 / before.size())).epsilon(1e-12));
  CHECK(s.snr_db == Approx(static_cast<double>(10 * std::log10(s2 / e2))).epsilon(1e-12));
  // Distinct codes: every after value is k/16 for k in -128..127 (saturated ones included).
  std::vector<int> seen(256, 0);
  for (float a : after) seen[static_cast<std::size_t>(static_cast<int>(a * 16) + 128)] = 1;
  int expect = 0;
  for (int v : seen) expect += v;
  CHECK(s.distinct == static_cast<std::uint64_t>(expect));
  CHECK(s.utilization == Approx(expect / 256.0));
}

TEST_CASE("rounding statistics: overflow to infinity and NaN-free formats", "[analysis][stats]") {
  // fp16 (largest 65504, infinities): 30 values of 1e6 overflow to +-inf; a NaN before is not counted.
  const formats::Format f = formats::parse_format("fp16");
  const formats::Quantizer q(f);
  std::vector<float> before = normal_tensor(3000, 0, 10, 4);
  for (int i = 0; i < 30; ++i) before[static_cast<std::size_t>(i * 7)] = i % 2 ? 1e6f : -1e6f;
  before[1] = kNaN;
  std::vector<float> after(before.size());
  q.quantize(before, after);
  const analysis::RoundingLimits lim = formats::finite_limits(f);
  CHECK(lim.max_finite == 65504);
  analysis::TensorStats s;
  std::vector<std::uint32_t> scratch;
  analysis::tensor_stats(before, after, lim, s, scratch);
  CHECK(s.overflow == 30);
  CHECK(s.saturated == 0);
  CHECK(s.after.pos_inf == 15);
  CHECK(s.after.neg_inf == 15);
  CHECK(s.before.nan == 1);
  CHECK(s.after.nan == 1);
}

TEST_CASE("format limits: largest finite values and code counts", "[analysis][stats]") {
  CHECK(formats::finite_limits(formats::parse_format("fp8_e4m3")).max_finite == 448);  // 1.75 * 2^8 (fn: S.1111.111 is NaN)
  CHECK(formats::finite_limits(formats::parse_format("fp8_e5m2")).max_finite == 57344);  // 1.75 * 2^15
  CHECK(formats::finite_limits(formats::parse_format("fp8_e4m3")).codes == 256);
  CHECK(formats::finite_limits(formats::parse_format("fixed(i=7,f=0)")).max_finite == 127);
  CHECK(formats::finite_limits(formats::parse_format("fixed(i=7,f=0)")).min_finite == -128);
  CHECK(formats::finite_limits(formats::parse_format("fixed(i=8,f=0,signed=no)")).max_finite == 255);
  CHECK(formats::finite_limits(formats::parse_format("fixed(i=8,f=0,signed=no)")).min_finite == 0);
  CHECK(formats::finite_limits(formats::parse_format("fp8_e4m3")).min_finite == -448);
  // graham_L4 = log(k=1,lo=-3,hi=4,scale=1.36): values +-2^n, n in -3..4, so the largest is 2^4.
  CHECK(formats::finite_limits(formats::parse_format("graham_L4")).max_finite == 16);
  CHECK(formats::finite_limits(formats::parse_format("graham_L4")).min_finite == -16);
}

TEST_CASE("rounding statistics do not depend on the thread count", "[analysis][stats]") {
  std::vector<float> before = normal_tensor(150001, 0, 1, 5), after(before.size());
  formats::Quantizer(formats::parse_format("fp8_e5m2")).quantize(before, after);
  const analysis::RoundingLimits lim = formats::finite_limits(formats::parse_format("fp8_e5m2"));
  analysis::TensorStats one, two;
  std::vector<std::uint32_t> scratch;
  analysis::tensor_stats(before, after, lim, one, scratch, 1);
  analysis::tensor_stats(before, after, lim, two, scratch, 2);
  CHECK(std::memcmp(&one.before.mean, &two.before.mean, sizeof(double) * 7) == 0);
  CHECK(std::memcmp(&one.after.mean, &two.after.mean, sizeof(double) * 7) == 0);
  CHECK(one.before.hist == two.before.hist);
  CHECK(std::memcmp(&one.mse, &two.mse, sizeof(double)) == 0);
  CHECK(std::memcmp(&one.snr_db, &two.snr_db, sizeof(double)) == 0);
  CHECK(one.distinct == two.distinct);
}

TEST_CASE("identity statistics equal tensor_stats of x against itself", "[analysis][stats]") {
  std::vector<float> x = normal_tensor(70000, 0.5f, 2, 6);
  x[3] = 0;
  analysis::RoundingLimits lim;
  lim.codes = 1024;  // as if a 10-bit quantizer: distinct counted
  analysis::TensorStats a, b;
  std::vector<std::uint32_t> scratch;
  analysis::tensor_stats(x, x, lim, a, scratch, 2);
  analysis::identity_stats(x, lim, b, scratch, 2);
  CHECK(a.before.std == b.before.std);
  CHECK(a.after.kurtosis == b.after.kurtosis);
  CHECK(a.mse == b.mse);
  CHECK(a.snr_db == b.snr_db);
  CHECK(std::isinf(b.snr_db));
  CHECK(a.distinct == b.distinct);
  CHECK(a.underflow + a.saturated + a.overflow == 0);
  analysis::RoundingLimits wide;  // fp32: 2^32 codes, not counted
  wide.codes = std::uint64_t{1} << 32;
  analysis::identity_stats(x, wide, b, scratch);
  CHECK(b.distinct == 0);
  CHECK(std::isnan(b.utilization));
}

TEST_CASE("distinct values: bit patterns, NaN excluded, capped", "[analysis][stats]") {
  std::vector<std::uint32_t> t;
  CHECK(analysis::count_distinct(std::vector<float>{1, 1, 2, 0.0f, -0.0f, kNaN, kNaN, kInf}, t) == 5);
  std::vector<float> many(200000);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<float>(i);
  CHECK(analysis::count_distinct(many, t) == analysis::kDistinctCap);
}
