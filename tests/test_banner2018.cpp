// Banner et al. 2018 (issue 5): the min/max range quantizer against a scalar golden path and hand-
// computed values (edge cases: constant, all-zero, NaN, infinity), its stochastic rounding (unbiased,
// reproducible, thread-independent), running estimates of activations; Range BN forward against a
// double-precision evaluation of its definition and its backward against fp64 finite differences;
// gradients bifurcation; the config keys; a smoke run of the 8-bit scheme that lowers the loss; and the
// quantizer's vector loops against its scalar reference loops, bit for bit, on every SIMD target.
#include "sim/methods/banner2018/range_batchnorm.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layers/conv_layer.hpp"
#include "sim/methods/banner2018/range_quantizer.hpp"
#include "sim/methods/banner2018/range_rounding.hpp"
#include "sim/nn/role.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include "formats/rounding.hpp"
#include "formats/simd_target.hpp"

#include "error_of.hpp"
#include "train_checks.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using namespace bitsim::sim::methods;
using bitsim::sim::methods::range_bn_constant;
using bitsim::sim::methods::RangeBatchNorm;
namespace fs = std::filesystem;
using bitsim::test::error_of;
using bitsim::test::outcome_of;
namespace formats = bitsim::formats;

namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// t clamped to [0, qmax] and rounded to the nearest integer, ties to even, by hand.
double clamp_round_half_even(float t, double qmax) {
  const double c = std::min(std::max(static_cast<double>(t), 0.0), qmax);
  double q = std::floor(c);
  const double frac = c - q;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(q, 2.0) != 0)) q += 1;
  return q;
}

// The quantizer's definition evaluated one element at a time in double, rounding to float after each
// operation (for float operands one double operation rounded to float is the correctly rounded float
// result), and rounding half to even by hand.
float golden_quantize(float x, ValueRange r, int bits, double noise) {
  const double qmax = std::ldexp(1.0, bits) - 1;
  const double s_d = std::max((r.hi - r.lo) / qmax, 1e-8);
  const float lo = static_cast<float>(r.lo), s = static_cast<float>(s_d);
  const float diff = static_cast<float>(static_cast<double>(x) - lo);
  float t = static_cast<float>(static_cast<double>(diff) / s);
  t = static_cast<float>(static_cast<double>(t) + noise);
  const double q = clamp_round_half_even(t, qmax);
  const float prod = static_cast<float>(q * s);
  return static_cast<float>(static_cast<double>(prod) + lo);
}

// The true_zero variant's definition, likewise.
float golden_true_zero(float x, ValueRange r, int bits, double noise) {
  const double qmax = std::ldexp(1.0, bits) - 1;
  const double lo = std::min(r.lo, 0.0), hi = std::max(r.hi, 0.0);
  const double s_d = std::max((hi - lo) / qmax, 1e-8);
  const double z_d = std::trunc(std::min(std::max(-lo / s_d, 0.0), qmax));
  const float s = static_cast<float>(s_d), z = static_cast<float>(z_d);
  float t = static_cast<float>(static_cast<double>(x) / s);
  t = static_cast<float>(static_cast<double>(t) + z);
  t = static_cast<float>(static_cast<double>(t) + noise);
  const double q = clamp_round_half_even(t, qmax);
  const float d = static_cast<float>(q - z);
  return static_cast<float>(static_cast<double>(d) * s);
}

double noise_of(std::uint32_t w) { return static_cast<double>(w >> 8) * 0x1p-24 - 0.5; }

std::vector<float> random_values(std::size_t n, std::mt19937& rng, double sigma = 1.0) {
  std::normal_distribution<double> nd(0.0, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(nd(rng));
  return v;
}

}  // namespace

TEST_CASE("banner: range quantizer equals the golden path, nearest and stochastic, any thread count", "[banner]") {
  std::mt19937 rng(11);
  for (int bits : {1, 2, 3, 4, 8, 12, 16, 24}) {
    // Sizes around the vector width and the thread threshold; values plus exact ties (grid midpoints).
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{1000}, std::size_t{70001}}) {
      std::vector<float> x = random_values(n, rng, 3.0);
      const ValueRange r = measure_tensor_range(x);
      const double s = range_scale(r, bits);
      for (std::size_t i = 0; i < n; i += 7) x[i] = static_cast<float>(r.lo + (std::floor(i / 7.0) + 0.5) * s);
      const ValueRange rr = measure_tensor_range(x);
      const formats::PhiloxWords words(bits * 1000 + n);
      for (bool sr : {false, true}) {
        std::vector<float> one = x, two = x;
        range_quantize(one, rr, bits, sr ? &words : nullptr, 1);
        range_quantize(two, rr, bits, sr ? &words : nullptr, 2);
        std::size_t bad = 0, bad_threads = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const float want = golden_quantize(x[i], rr, bits, sr ? noise_of(words.word(i)) : 0.0);
          if (!same_bits(one[i], want)) ++bad;
          if (!same_bits(one[i], two[i])) ++bad_threads;
        }
        INFO("bits " << bits << ", n " << n << ", sr " << sr);
        CHECK(bad == 0);
        CHECK(bad_threads == 0);
      }
    }
  }
}

TEST_CASE("banner: range quantizer with a zero point (true_zero) equals its golden path - zero is exact", "[banner]") {
  std::mt19937 rng(21);
  for (int bits : {2, 4, 8, 16}) {
    for (double shift : {-2.0, 0.0, 1.5, 40.0}) {  // ranges across, below and above zero
      std::vector<float> x = random_values(3001, rng, 1.0);
      for (float& v : x) v = static_cast<float>(v + shift);
      for (std::size_t i = 0; i < x.size(); i += 10) x[i] = 0.0f;
      const ValueRange r = measure_tensor_range(x);
      const formats::PhiloxWords words(bits);
      for (bool sr : {false, true}) {
        std::vector<float> y = x;
        range_quantize(y, r, bits, sr ? &words : nullptr, 2, true);
        std::size_t bad = 0, zero_moved = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (!same_bits(y[i], golden_true_zero(x[i], r, bits, sr ? noise_of(words.word(i)) : 0.0))) ++bad;
          if (!sr && x[i] == 0.0f && y[i] != 0.0f) ++zero_moved;
        }
        INFO("bits " << bits << ", shift " << shift << ", sr " << sr);
        CHECK(bad == 0);
        CHECK(zero_moved == 0);
      }
    }
  }
  SECTION("hand values: [-1, 2] with 2 bits: s = 1, z = 1, grid -1, 0, 1, 2") {
    std::vector<float> x = {-1.0f, -0.4f, 0.0f, 0.5f, 1.6f, 2.0f};
    CHECK(range_zero_point({-1.0, 2.0}, 2) == 1.0);
    range_quantize(x, {-1.0, 2.0}, 2, nullptr, 1, true);
    CHECK(x == std::vector<float>{-1.0f, 0.0f, 0.0f, 1.0f, 2.0f, 2.0f});  // 0.5: t = 1.5, a tie, to the even code 2, so (2 - 1) s = 1
  }
  SECTION("a constant tensor: the range widened to [0, c] keeps c up to the scale's rounding") {
    std::vector<float> x(10, 3.5f);
    range_quantize(x, measure_tensor_range(x), 8, nullptr, 1, true);
    for (float v : x) CHECK(v == Approx(3.5).epsilon(1e-6));
  }
  SECTION("an all-zero tensor stays zero") {
    std::vector<float> x(10, 0.0f);
    range_quantize(x, measure_tensor_range(x), 8, nullptr, 1, true);
    for (float v : x) CHECK(v == 0.0f);
  }
}

TEST_CASE("banner: range quantizer hand-computed values and grid properties", "[banner]") {
  SECTION("codes 0..255 on [0, 255] with 8 bits are kept exactly") {
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i);
    const std::vector<float> before = x;
    range_quantize(x, measure_tensor_range(x), 8, nullptr);
    CHECK(x == before);
  }
  SECTION("2 bits on [-1, 1]: grid -1, -1/3, 1/3, 1 (s = 2/3), ties to even code") {
    // s = float(2/3) = 0.666666686534881591796875. 0.5: t = 1.5 / s = 2.2499999 -> code 2 -> 2 s - 1.
    std::vector<float> x = {-1.0f, 0.5f, 1.0f, 0.0f};
    range_quantize(x, {-1.0, 1.0}, 2, nullptr);
    const float s = static_cast<float>(2.0 / 3.0);
    CHECK(same_bits(x[0], -1.0f));
    CHECK(same_bits(x[1], 2.0f * s - 1.0f));
    CHECK(same_bits(x[2], 3.0f * s - 1.0f));
    // 0: 1 / s = 1.49999996647... whose nearest float is 1.5 exactly (the float division rounds onto
    // the tie), and the tie goes to the even code 2: 2 s - 1 = 1/3. Zero is not on the grid.
    CHECK(same_bits(x[3], 2.0f * s - 1.0f));
  }
  SECTION("a value at the middle of two codes goes to the even code") {
    // [0, 3] with 2 bits: s = 1, codes 0..3; 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
    std::vector<float> x = {0.5f, 1.5f, 2.5f, 3.0f, 0.0f};
    range_quantize(x, {0.0, 3.0}, 2, nullptr);
    CHECK(x == std::vector<float>{0.0f, 2.0f, 2.0f, 3.0f, 0.0f});
  }
  SECTION("values outside a given range are clamped to its ends") {
    std::vector<float> x = {-5.0f, 10.0f};
    range_quantize(x, {0.0, 3.0}, 2, nullptr);
    CHECK(x == std::vector<float>{0.0f, 3.0f});
  }
  SECTION("nearest rounding errs by at most half a step; the tensor's min is kept exactly") {
    std::mt19937 rng(3);
    std::vector<float> x = random_values(5000, rng);
    const ValueRange r = measure_tensor_range(x);
    const std::vector<float> before = x;
    range_quantize(x, r, 5, nullptr);
    const double s = range_scale(r, 5);
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(x[i]) - before[i]));
      const double k = (x[i] - r.lo) / s;
      CHECK(std::abs(k - std::round(k)) < 1e-4);  // on the grid lo + k s, up to float rounding
      if (before[i] == static_cast<float>(r.lo)) CHECK(x[i] == before[i]);
    }
    CHECK(worst <= s / 2 * (1 + 1e-5));
  }
}

TEST_CASE("banner: range quantizer edge cases: constant, all-zero, empty, NaN and infinity", "[banner]") {
  SECTION("a constant tensor keeps its value (s = 1e-8, every code 0)") {
    std::vector<float> x(100, 3.5f);
    const ValueRange r = measure_tensor_range(x);
    CHECK(r.lo == 3.5);
    CHECK(r.hi == 3.5);
    CHECK(range_scale(r, 8) == 1e-8);
    range_quantize(x, r, 8, nullptr);
    CHECK(std::all_of(x.begin(), x.end(), [](float v) { return v == 3.5f; }));
  }
  SECTION("an all-zero tensor stays zero, also with stochastic rounding") {
    std::vector<float> x(1000, 0.0f);
    const formats::PhiloxWords w(5);
    range_quantize(x, measure_tensor_range(x), 8, &w);
    CHECK(std::all_of(x.begin(), x.end(), [](float v) { return v == 0.0f; }));
  }
  SECTION("an empty tensor is no error") {
    std::vector<float> x;
    CHECK(measure_tensor_range(x).lo == 0);
    range_quantize(x, {}, 8, nullptr);
  }
  SECTION("NaN or infinity is an error naming the first such element, whatever the thread count") {
    for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
      for (std::size_t pos : {std::size_t{3}, std::size_t{99999}}) {
        std::vector<float> x(100000, 1.0f);
        x[pos] = bad;
        if (pos + 1 < x.size()) x[pos + 1] = bad;  // the first one is named
        for (int threads : {1, 2}) {
          const std::string msg = error_of<formats::QuantizeError>([&] { measure_tensor_range(x, threads); });
          CHECK_THAT(msg, Catch::Contains("element " + std::to_string(pos) + ":"));
          CHECK_THAT(msg, Catch::Contains("finite"));
        }
        CHECK_THROWS_AS(measure_sample_mean_range(x, 4), formats::QuantizeError);
      }
    }
  }
  SECTION("a role names layer and role in the error") {
    const RoleRounding role = range_rounding(RangeRole{8, false, 0.9}, true);
    std::vector<float> x = {1.0f, std::nanf(""), 2.0f};
    const std::string msg = error_of<formats::QuantizeError>([&] { role.apply(x, 1, "conv2 DY"); });
    CHECK_THAT(msg, Catch::StartsWith("conv2 DY: element 1"));
  }
  SECTION("bits outside 1..24 are refused") {
    CHECK_THROWS_AS(range_rounding(RangeRole{0, false, 0.9}, false), bitsim::formats::FormatError);
    CHECK_THROWS_AS(range_rounding(RangeRole{25, false, 0.9}, false), bitsim::formats::FormatError);
  }
}

TEST_CASE("banner: stochastic rounding of the range quantizer is unbiased and reproducible", "[banner]") {
  // [0, 15] with 4 bits: s = 1. x = 2.3 rounds up to 3 with probability 0.3.
  const std::size_t n = 200000;
  std::vector<float> x(n, 2.3f);
  const formats::PhiloxWords w(42);
  range_quantize(x, {0.0, 15.0}, 4, &w);
  std::size_t up = 0;
  for (float v : x) {
    REQUIRE((v == 2.0f || v == 3.0f));
    up += v == 3.0f;
  }
  const double p = static_cast<double>(up) / n;
  CHECK(std::abs(p - 0.3) < 5 * std::sqrt(0.3 * 0.7 / n));  // five standard deviations
  std::vector<float> y(n, 2.3f), z(n, 2.3f);
  range_quantize(y, {0.0, 15.0}, 4, &w, 2);
  CHECK(x == y);
  const formats::PhiloxWords other(43);
  range_quantize(z, {0.0, 15.0}, 4, &other);
  CHECK(x != z);
}

TEST_CASE("banner: sample_mean range and running estimates", "[banner]") {
  // Two samples: [0, 1, 0.5] and [2, 5, 3] -> mean of minima 1, mean of maxima 3.
  const std::vector<float> x = {0.0f, 1.0f, 0.5f, 2.0f, 5.0f, 3.0f};
  const ValueRange r = measure_sample_mean_range(x, 2);
  CHECK(r.lo == 1.0);
  CHECK(r.hi == 3.0);
  CHECK_THROWS_AS(measure_sample_mean_range(x, 4), std::invalid_argument);

  const RoleRounding role = range_rounding(RangeRole{1, true, 0.9}, false);  // 1 bit: codes lo, hi
  REQUIRE(role.state_floats() == 2);
  float running[2] = {0.0f, 0.0f};
  PolicyState rc{2, true, running};
  std::vector<float> y = x;
  role.apply(y, 1, "A", 1, &rc);
  // Training uses the batch range [1, 3] (s = 2) and moves the running range 0.9 of the way towards it.
  // 2.0 is at t = 0.5, a tie, which goes to the even code 0.
  CHECK(y == std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f, 3.0f, 3.0f});
  CHECK(running[0] == 0.9f);
  CHECK(running[1] == static_cast<float>(0.9 * 3.0));
  // Inference uses the running range and leaves it alone.
  rc.training = false;
  std::vector<float> e = x;
  role.apply(e, 1, "A", 1, &rc);
  const float lo = running[0], hi = static_cast<float>(0.9 * 3.0);
  CHECK(running[0] == 0.9f);
  CHECK(e[0] == lo);
  CHECK(e[4] == static_cast<float>(1.0f * static_cast<float>(range_scale({lo, hi}, 1)) + lo));
  CHECK_THROWS_AS(role.apply(e, 1, "A", 1, nullptr), std::logic_error);
}

TEST_CASE("banner: arithmetic = float32 takes the per-sample means and the running range in float32", "[banner]") {
  // Three samples whose minima are 1, 2^-25 and 2^-25: in double the sum keeps the small ones
  // (1 + 2^-24), in float each addition rounds them away (2^-25 is a quarter of float's spacing at 1).
  const float tiny = std::ldexp(1.0f, -25);
  const std::vector<float> x = {1.0f, 4.0f, tiny, 3.0f, tiny, 2.0f};
  const ValueRange f64 = measure_sample_mean_range(x, 3, 1, RangeArithmetic::f64);
  const ValueRange f32 = measure_sample_mean_range(x, 3, 2, RangeArithmetic::f32);
  CHECK(f64.lo == (1.0 + 2.0 * static_cast<double>(tiny)) / 3.0);
  CHECK(f64.hi == 3.0);
  float lo = 0.0f;  // by hand: the additions in sample order, then the division, each in float
  for (float m : {1.0f, tiny, tiny}) lo = lo + m;
  CHECK(lo == 1.0f);
  CHECK(f32.lo == static_cast<double>(lo / 3.0f));
  CHECK(f32.hi == static_cast<double>((4.0f + 3.0f + 2.0f) / 3.0f));
  CHECK(f32.lo != f64.lo);

  // The running update as float operations: r = fl(fl(r * fl(1 - w)) + fl(batch * fl(w))).
  RangeRole spec{8, true, 0.9};
  spec.arithmetic = RangeArithmetic::f32;
  const RoleRounding role = range_rounding(spec, false);
  CHECK(role.describe() == "range(bits=8,range=sample_mean,new_weight=0.9,arithmetic=float32)");
  float running[2] = {0.1f, 0.7f};
  PolicyState state{3, true, running};
  std::vector<float> y = x;
  role.apply(y, 1, "A", 1, &state);
  const float keep = 0.1f, take = 0.9f;  // float(1 - 0.9) and float(0.9)
  const float lo_f = static_cast<float>(f32.lo), hi_f = static_cast<float>(f32.hi);
  const float want_lo = 0.1f * keep + lo_f * take, want_hi = 0.7f * keep + hi_f * take;
  CHECK(same_bits(running[0], want_lo));
  CHECK(same_bits(running[1], want_hi));
  // The default (double) update differs here: the double mean keeps what float rounds away.
  float running64[2] = {0.1f, 0.7f};
  PolicyState state64{3, true, running64};
  std::vector<float> y64 = x;
  range_rounding(RangeRole{8, true, 0.9}, false).apply(y64, 1, "A", 1, &state64);
  const double w = 0.9;
  CHECK(running64[0] == static_cast<float>((1 - w) * static_cast<double>(0.1f) + w * f64.lo));
  CHECK(running64[0] != running[0]);

  // Only with sample_mean: for a whole tensor's min and max (floats) it would change nothing.
  RangeRole whole{8, false, 0.9};
  whole.arithmetic = RangeArithmetic::f32;
  CHECK_THROWS_AS(range_rounding(whole, false), bitsim::formats::FormatError);
  CHECK_THROWS_WITH(train::parse_config("[formats]\nA = \"range(bits=8,arithmetic=float32)\"\n", "f.toml"),
                    Catch::Contains("f.toml:2: key 'formats.A'") && Catch::Contains("sample_mean"));
  CHECK_THROWS_WITH(train::parse_config("[formats]\nA = { policy = \"range\", bits = 8, range = \"sample_mean\", arithmetic = \"half\" }\n",
                                        "f.toml"),
                    Catch::Contains("key 'formats.A.arithmetic'"));
}

namespace {

// Range BN forward in double, straight from its definition (chunks of the channel's values in
// (n, h, w) order); y = gamma * (x - mean) * scale + beta.
std::vector<double> range_bn_reference(const std::vector<double>& x, Nchw s, std::int64_t K, double eps,
                                       const std::vector<double>& gamma, const std::vector<double>& beta,
                                       std::vector<double>* scale_out = nullptr) {
  const std::int64_t M = s.n * s.h * s.w, HW = s.h * s.w, L = M / K;
  std::vector<double> y(x.size());
  for (std::int64_t c = 0; c < s.c; ++c) {
    auto at = [&](std::int64_t e) { return x[static_cast<std::size_t>(((e / HW) * s.c + c) * HW + e % HW)]; };
    double mean = 0;
    for (std::int64_t e = 0; e < M; ++e) mean += at(e);
    mean /= static_cast<double>(M);
    double smax = 0, smin = 0;
    for (std::int64_t k = 0; k < K; ++k) {
      double hi = -INFINITY, lo = INFINITY;
      for (std::int64_t e = k * L; e < (k + 1) * L; ++e) {
        hi = std::max(hi, at(e));
        lo = std::min(lo, at(e));
      }
      smax += hi;
      smin += lo;
    }
    const double cn = 0.5 * 0.35 * (1 + std::sqrt(std::acos(-1.0) * std::log(4.0))) / std::sqrt(2 * std::log(static_cast<double>(L)));
    const double scale = 1 / ((smax - smin) / static_cast<double>(K) * cn + eps);
    if (scale_out) scale_out->push_back(scale);
    for (std::int64_t e = 0; e < M; ++e) {
      const auto i = static_cast<std::size_t>(((e / HW) * s.c + c) * HW + e % HW);
      y[i] = gamma[static_cast<std::size_t>(c)] * (x[i] - mean) * scale + beta[static_cast<std::size_t>(c)];
    }
  }
  return y;
}

void run_forward(Layer& l, const StepContext& ctx, const FTensor& x, FTensor& y) {
  const FTensor* in[1] = {&x};
  l.forward(ctx, std::span<const FTensor* const>(in, 1), y);
}

}  // namespace

TEST_CASE("banner: Range BN constant C(n) as in the reference code", "[banner]") {
  CHECK(range_bn_constant(392) == Approx(0.1563).epsilon(1e-3));
  CHECK(range_bn_constant(6272) == Approx(0.1292).epsilon(1e-3));
  CHECK(range_bn_constant(100352) == Approx(0.1126).epsilon(1e-3));
  CHECK(0.5 * 0.35 * (1 + std::sqrt(std::acos(-1.0) * std::log(4.0))) == Approx(0.540208362487903).epsilon(1e-14));
}

TEST_CASE("banner: Range BN forward equals its definition - backward equals fp64 finite differences", "[banner]") {
  const Nchw s{8, 3, 4, 4};  // M = 128 values per channel
  const std::int64_t K = 4;
  std::mt19937 rng(5);
  BatchNormLayer bn(BatchNormSpec{s.c, 1e-5, 0.1});
  bn.name = "bn";
  bn.set_method(std::make_unique<RangeBatchNorm>(K, 0.9));
  bn.reset_buffers();
  std::vector<double> gamma = {1.3, -0.7, 0.4}, beta = {0.1, 0.0, -0.2};
  auto params = bn.params();
  for (int c = 0; c < 3; ++c) {
    params[0]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(gamma[static_cast<std::size_t>(c)]);
    params[1]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(beta[static_cast<std::size_t>(c)]);
  }
  FTensor x(s);
  std::normal_distribution<double> nd(0.5, 2.0);
  for (float& v : x.data) v = static_cast<float>(nd(rng));
  const std::vector<double> xd(x.data.begin(), x.data.end());

  StepContext ctx;
  ctx.threads = 2;
  bn.round_weights(ctx);
  FTensor y;
  run_forward(bn, ctx, x, y);
  std::vector<double> scales;
  const std::vector<double> want = range_bn_reference(xd, s, K, 1e-5, gamma, beta, &scales);
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(y.data[i] == Approx(want[i]).margin(1e-5).epsilon(1e-5));

  // Running statistics: 0.1 * 0 + 0.9 * batch value.
  auto bufs = bn.buffers();
  for (int c = 0; c < 3; ++c) CHECK(bufs[1]->data[static_cast<std::size_t>(c)] == Approx(0.9 * scales[static_cast<std::size_t>(c)]).epsilon(1e-6));

  // Backward of L = sum(w * y) against central differences of the fp64 reference.
  std::vector<double> w(want.size());
  for (double& v : w) v = nd(rng);
  FTensor dy(s);
  for (std::size_t i = 0; i < w.size(); ++i) dy.data[i] = static_cast<float>(w[i]);
  FTensor dx;
  FTensor* out[1] = {&dx};
  bn.begin_backward(ctx, dy);
  bn.backward(ctx, dy, std::span<FTensor* const>(out, 1));
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& g, const std::vector<double>& b) {
    const std::vector<double> yy = range_bn_reference(xx, s, K, 1e-5, g, b);
    double l = 0;
    for (std::size_t i = 0; i < yy.size(); ++i) l += w[i] * yy[i];
    return l;
  };
  const double h = 1e-6;
  double worst = 0, scale_of_grad = 0;
  std::size_t extremes_checked = 0;
  const std::vector<double> fds = bitsim::test::central_dx(loss, xd, gamma, beta, h);
  for (std::size_t i = 0; i < xd.size(); ++i) {
    const double fd = fds[i];
    worst = std::max(worst, std::abs(fd - dx.data[i]));
    scale_of_grad = std::max(scale_of_grad, std::abs(fd));
    // Elements that carry the range's share differ most from the mean-only gradient: count them.
    if (std::abs(fd - dx.data[i]) < 1e-4 && std::abs(fd) > 0) ++extremes_checked;
  }
  INFO("worst |fd - dx| = " << worst << ", largest |fd| = " << scale_of_grad);
  CHECK(worst < 2e-4 * std::max(1.0, scale_of_grad));
  CHECK(extremes_checked > 0);
  bitsim::test::check_affine_grads(bn, loss, xd, gamma, beta, h);
}

TEST_CASE("banner: the range term of Range BN's gradient is needed (standard-BN-like formula fails)", "[banner]") {
  // The same check as above, but comparing finite differences with the gradient of the mean only:
  // it must miss at the chunk extremes, which shows the finite-difference check has teeth.
  const Nchw s{4, 2, 2, 2};
  const std::int64_t K = 2;
  std::mt19937 rng(9);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> x(static_cast<std::size_t>(s.numel())), w(x.size());
  for (double& v : x) v = nd(rng);
  for (double& v : w) v = nd(rng);
  const std::vector<double> g = {1.0, 1.0}, b = {0.0, 0.0};
  std::vector<double> scales;
  range_bn_reference(x, s, K, 1e-5, g, b, &scales);
  double largest_miss = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<double> xp = x, xm = x;
    xp[i] += 1e-6;
    xm[i] -= 1e-6;
    const auto yp = range_bn_reference(xp, s, K, 1e-5, g, b), ym = range_bn_reference(xm, s, K, 1e-5, g, b);
    double fd = 0;
    for (std::size_t j = 0; j < x.size(); ++j) fd += w[j] * (yp[j] - ym[j]) / 2e-6;
    // Mean-only gradient: scale (w_i - mean over the channel of w).
    const std::int64_t c = (static_cast<std::int64_t>(i) / (s.h * s.w)) % s.c;
    double mw = 0;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t k = 0; k < s.h * s.w; ++k) mw += w[static_cast<std::size_t>((n * s.c + c) * s.h * s.w + k)];
    mw /= static_cast<double>(s.n * s.h * s.w);
    largest_miss = std::max(largest_miss, std::abs(fd - scales[static_cast<std::size_t>(c)] * (w[i] - mw)));
  }
  CHECK(largest_miss > 1e-2);
}

TEST_CASE("banner: Range BN errors and inference", "[banner]") {
  BatchNormLayer bn(BatchNormSpec{2, 1e-5, 0.1});
  bn.name = "bn7";
  bn.set_method(std::make_unique<RangeBatchNorm>(16, 0.9));
  StepContext ctx;
  FTensor x(Nchw{3, 2, 2, 2});  // 12 values per channel: not divisible by 16
  for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(i % 5);
  bn.round_weights(ctx);
  FTensor y;
  const std::string msg = error_of<KernelShapeError>([&] { run_forward(bn, ctx, x, y); });
  CHECK_THAT(msg, Catch::Contains("bn7"));
  CHECK_THAT(msg, Catch::Contains("16 chunks"));
  // Inference needs no chunks: it uses the running mean and scale.
  auto bufs = bn.buffers();
  bufs[0]->data = {1.0f, 2.0f};
  bufs[1]->data = {0.5f, 2.0f};
  ctx.training = false;
  run_forward(bn, ctx, x, y);
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t i = 0; i < 4; ++i) {
        const auto e = static_cast<std::size_t>((n * 2 + c) * 4 + i);
        CHECK(y.data[e] == (x.data[e] - bufs[0]->data[static_cast<std::size_t>(c)]) * bufs[1]->data[static_cast<std::size_t>(c)]);
      }
  CHECK_THROWS_AS(RangeBatchNorm(0, 0.9), KernelShapeError);
}

TEST_CASE("banner: gradients bifurcation: dW reads the DY_W copy, dx the DY one", "[banner]") {
  const Nchw xs{4, 3, 6, 6};
  std::mt19937 rng(2);
  std::normal_distribution<double> nd(0.0, 1.0);
  FTensor x(xs), dy0(Nchw{4, 5, 6, 6});
  for (float& v : x.data) v = static_cast<float>(nd(rng));
  for (float& v : dy0.data) v = static_cast<float>(nd(rng));
  auto make = [&](bool bifurcate, bool dy_rounded) {
    ConvSpec spec;
    spec.in_channels = 3;
    spec.out_channels = 5;
    spec.pad = 1;
    spec.bias = true;
    auto l = std::make_unique<ConvLayer>(spec);
    l->name = "conv";
    for (std::size_t i = 0; i < l->params()[0]->value.data.size(); ++i) l->params()[0]->value.data[i] = static_cast<float>(nd(rng) * 0.3);
    if (dy_rounded) l->roles[Role::DY] = range_rounding(RangeRole{3, false, 0.9}, false);
    l->bifurcate = bifurcate;  // DY_W stays fp32: the unrounded copy (the reference code's choice)
    return l;
  };
  auto run = [&](ConvLayer& l, FTensor& dx) {
    StepContext ctx;
    l.round_weights(ctx);
    FTensor y;
    run_forward(l, ctx, x, y);
    FTensor dy = dy0;
    l.begin_backward(ctx, dy);
    FTensor* out[1] = {&dx};
    l.backward(ctx, dy, std::span<FTensor* const>(out, 1));
  };
  auto plain = make(false, false), rounded = make(false, true), bif = make(true, true);
  // Same weights in all three.
  rounded->params()[0]->value = plain->params()[0]->value;
  bif->params()[0]->value = plain->params()[0]->value;
  FTensor dx_plain, dx_rounded, dx_bif;
  run(*plain, dx_plain);
  run(*rounded, dx_rounded);
  run(*bif, dx_bif);
  // dx follows DY in both rounded layers; dW and db of the bifurcated one equal those from the
  // unrounded gradient, and differ from the rounded layer's.
  CHECK(dx_bif.data == dx_rounded.data);
  CHECK(dx_bif.data != dx_plain.data);
  CHECK(bif->params()[0]->grad.data == plain->params()[0]->grad.data);
  CHECK(bif->params()[1]->grad.data == plain->params()[1]->grad.data);
  CHECK(rounded->params()[0]->grad.data != plain->params()[0]->grad.data);
}

TEST_CASE("banner: config keys for range roles, Range BN, bifurcation and kind overrides", "[banner][train]") {
  const std::string base = R"toml(
[model]
name = "cnn"
width = 4
[formats]
W = "range(bits=8)"
batchnorm = "range"
range_bn_chunks = 8
bifurcate = true
DY_W = { quantizer = "range", bits = 16, rounding = "sr" }
G = { quantizer = "range", bits = 12, true_zero = true }
[[formats.override]]
kinds = ["conv", "batchnorm"]
DY = { quantizer = "range", bits = 6, rounding = "sr" }
[[formats.override]]
kinds = ["relu"]
layers = ["relu1"]
A = "range(bits=7, range=sample_mean, new_weight=0.5)"
)toml";
  const train::TrainConfig c = train::parse_config(base, "b.toml");
  // The resolved config reads back to the same config.
  CHECK(train::to_toml(train::parse_config(train::to_toml(c), "r.toml")) == train::to_toml(c));

  auto layer_for = [&](auto layer, const std::string& name) {
    layer->name = name;
    train::configure_layer(c, *layer);
    return layer;
  };
  ConvSpec cs;
  cs.in_channels = 1;
  cs.out_channels = 4;
  auto conv = layer_for(std::make_unique<ConvLayer>(cs), "conv1");
  CHECK(conv->roles[Role::W].describe() == "range(bits=8)");
  CHECK(conv->roles[Role::DY].describe() == "range(bits=6) sr");
  CHECK(conv->roles[Role::DY_W].describe() == "range(bits=16) sr");
  CHECK(conv->roles[Role::A].is_identity());
  CHECK(conv->roles[Role::G].describe() == "range(bits=12,true_zero=yes)");
  CHECK(conv->bifurcate);
  auto bn = layer_for(std::make_unique<BatchNormLayer>(BatchNormSpec{4, 1e-5, 0.1}), "bn1");
  CHECK(bn->method().name() == "range");
  CHECK(bn->roles[Role::DY].describe() == "range(bits=6) sr");
  auto relu1 = layer_for(std::make_unique<ConvLayer>(cs), "relu1");  // a conv named like a relu: kind must match too
  CHECK(relu1->roles[Role::A].is_identity());

  SECTION("bad values name file, line and key") {
    auto err = [&](const std::string& text) { return error_of<train::ConfigError>([&] { train::parse_config(text, "bad.toml"); }); };
    CHECK_THAT(err("[formats]\nW = \"range(bits=0)\"\n"), Catch::Contains("bad.toml:2: key 'formats.W'"));
    CHECK_THAT(err("[formats]\nW = \"range(bits=8,range=sample_mean)\"\n"), Catch::Contains("batch axis"));
    CHECK_THAT(err("[formats]\nA = \"range(bits=8,colour=red)\"\n"), Catch::Contains("unknown key 'colour'"));
    CHECK_THAT(err("[formats]\nA = \"range(range=tensor)\"\n"), Catch::Contains("missing required key 'bits'"));
    CHECK_THAT(err("[formats]\nDY = { quantizer = \"range\", bits = 8, rounding = \"rtz\" }\n"), Catch::Contains("formats.DY.rounding"));
    CHECK_THAT(err("[formats]\nDY = { quantizer = \"range\", format = \"fp8_e4m3\" }\n"), Catch::Contains("formats.DY.format") && Catch::Contains("unknown key 'format'"));
    CHECK_THAT(err("[formats]\nbatchnorm = \"rangy\"\n"), Catch::Contains("formats.batchnorm"));
    CHECK_THAT(err("[[formats.override]]\nkinds = [\"convolution\"]\n"), Catch::Contains("unknown layer kind 'convolution'"));
    CHECK_THAT(err("[[formats.override]]\nA = \"fp16\"\n"), Catch::Contains("needs `layers`"));
  }
}

TEST_CASE("banner: a smoke run of the 8-bit scheme (Range BN, bifurcation) lowers the loss", "[banner][train]") {
  // The experiment's config, shrunk: narrow CNN, 1000 samples, 2 epochs of 7 steps.
  const bitsim::test::SmokeRun run = bitsim::test::smoke_run(BITSIM_SOURCE_DIR "/experiments/banner2018/cnn_q8_rangebn_bif.toml");
  REQUIRE(run.train_loss.size() == 2);
  CHECK(run.train_loss[0] < std::log(10.0));
  CHECK(run.train_loss[1] < run.train_loss[0]);
  CHECK(run.result.test_accuracy > 0.3);
  // The layer table shows the scheme: range roles, Range BN and bifurcation.
  CHECK_THAT(run.model_txt, Catch::Contains("DY=range(bits=8) sr"));
  CHECK_THAT(run.model_txt, Catch::Contains("A=range(bits=8,range=sample_mean,new_weight=0.9)"));
  CHECK_THAT(run.model_txt, Catch::Contains("range-BN"));
  CHECK_THAT(run.model_txt, Catch::Contains("bifurcate"));
}

TEST_CASE("banner: the 8-bit scheme resumes bit for bit (running ranges and Range BN statistics are checkpointed)",
          "[banner][train]") {
  bitsim::test::check_resumes_bit_exact(BITSIM_SOURCE_DIR "/experiments/banner2018/cnn_q8_rangebn_bif.toml");
}

TEST_CASE("banner: range quantizer vector loops equal the scalar reference bit for bit on every SIMD target", "[banner][cpu]") {
  struct Guard {
    ~Guard() { formats::set_simd_target("best"); }
  } guard;
  auto bits_of = [](const std::vector<float>& v) {
    std::vector<std::uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  std::mt19937_64 rng(2018);
  // Inputs: random finite bit patterns below 2^20 in magnitude; normal values; signed zeros among
  // values of one sign (which zero is the minimum depends on the order of the comparisons); and
  // values with a NaN or an infinity somewhere (an error naming the element).
  auto make = [&](std::size_t n, int kind) {
    std::vector<float> x(n);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (std::size_t i = 0; i < n; ++i) {
      float v = 0;
      switch (kind) {
        case 0:
          do {
            v = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
          } while (!std::isfinite(v) || std::abs(v) > 0x1p20f);
          break;
        case 1: v = normal(rng); break;
        case 2: v = (rng() % 3 == 0) ? ((rng() & 1) ? -0.0f : 0.0f) : std::abs(normal(rng)); break;
        case 3: v = (rng() % 3 == 0) ? ((rng() & 1) ? -0.0f : 0.0f) : -std::abs(normal(rng)); break;
        default: v = normal(rng);
      }
      x[i] = v;
    }
    if (kind == 4) x[rng() % n] = (rng() & 1) ? NAN : -INFINITY;
    return x;
  };
  const formats::PhiloxWords words(5);
  std::size_t compared = 0, differing = 0;
  std::ostringstream first;
  auto note = [&](bool same, const std::string& what) {
    ++compared;
    if (!same && differing++ == 0) first << what;
  };
  for (const std::string& target : formats::simd_targets()) {
    formats::set_simd_target(target);
    for (std::size_t n : {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{33}, std::size_t{4096},
                          std::size_t{70003}})
      for (int kind = 0; kind < 5; ++kind) {
        const std::vector<float> x = make(n, kind);
        const std::string where = target + ", n " + std::to_string(n) + ", input kind " + std::to_string(kind);
        ValueRange got, want;
        note(outcome_of([&] { got = measure_tensor_range(x, 2); }) ==
                     outcome_of([&] { want = measure_tensor_range(x, 2, Loops::scalar); }) &&
                 same_bits(static_cast<float>(got.lo), static_cast<float>(want.lo)) &&
                 same_bits(static_cast<float>(got.hi), static_cast<float>(want.hi)),
             where + ": tensor range");
        for (RangeArithmetic a : {RangeArithmetic::f64, RangeArithmetic::f32}) {
          const std::int64_t samples = n % 2 == 0 ? 2 : 1;
          note(outcome_of([&] { got = measure_sample_mean_range(x, samples, 2, a); }) ==
                       outcome_of([&] { want = measure_sample_mean_range(x, samples, 2, a, Loops::scalar); }) &&
                   std::bit_cast<std::uint64_t>(got.lo) == std::bit_cast<std::uint64_t>(want.lo) &&
                   std::bit_cast<std::uint64_t>(got.hi) == std::bit_cast<std::uint64_t>(want.hi),
               where + ": sample-mean range");
        }
        if (kind == 4) continue;
        const ValueRange r = measure_tensor_range(x, 1, Loops::scalar);
        for (int bits : {1, 2, 4, 8, 16, 24})
          for (bool sr : {false, true})
            for (bool true_zero : {false, true})
              for (std::size_t offset : {std::size_t{0}, std::size_t{1}}) {  // off the vector alignment too
                if (offset >= n) continue;
                std::vector<float> a(x.begin() + static_cast<std::ptrdiff_t>(offset), x.end()), b = a;
                range_quantize(a, r, bits, sr ? &words : nullptr, 2, true_zero);
                range_quantize(b, r, bits, sr ? &words : nullptr, 2, true_zero, Loops::scalar);
                note(bits_of(a) == bits_of(b), where + ", bits " + std::to_string(bits) + (sr ? " sr" : "") +
                                                   (true_zero ? " true_zero" : "") + ", offset " + std::to_string(offset));
              }
      }
  }
  INFO(first.str());
  CHECK(compared > 1000);
  CHECK(differing == 0);
}
