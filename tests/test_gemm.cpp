// GEMM with explicit accumulation semantics (docs/spec/gemm.md): hand-computed cases for every
// accumulator mode, the fast and exact paths against the golden reference on random and adversarial
// matrices, and thread-count determinism.
#include "sim/kernels/gemm.hpp"

#include "formats/format.hpp"

#include "gemm_config.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>

using namespace bitsim::sim;
using bitsim::formats::Format;
using bitsim::formats::parse_format;
using bitsim::formats::Rounding;

using bitsim::test::config;

namespace {


// A 1xK row times a Kx1 column of ones: the accumulation of the row's values.
double dot_with_ones(const GemmConfig& c, const std::vector<double>& row) {
  Matrix a(1, static_cast<std::int64_t>(row.size())), b(static_cast<std::int64_t>(row.size()), 1);
  for (std::size_t k = 0; k < row.size(); ++k) {
    a(0, static_cast<std::int64_t>(k)) = row[k];
    b(static_cast<std::int64_t>(k), 0) = 1.0;
  }
  const double fast = gemm(c, a, b).values(0, 0);
  const double ref = gemm_reference(c, a, b).values(0, 0);
  REQUIRE(((std::isnan(fast) && std::isnan(ref)) || std::memcmp(&fast, &ref, sizeof fast) == 0));
  return ref;
}

bool same(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::memcmp(&x, &y, sizeof x) == 0;
}

}  // namespace

TEST_CASE("accumulation orders differ as gemm.md defines them (hand-computed)", "[gemm]") {
  // fp16 has 11 significant bits: 1 + 2^-11 is a tie between 1 and 1 + 2^-10 (even: 1).
  const double t = std::ldexp(1.0, -11);
  const std::vector<double> row = {1.0, t, t};
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), row) == 1.0);
  CHECK(dot_with_ones(config("fp32", "fp32", nullptr, AccOrder::sequential, "fp32"), row) == 1.0 + 2 * t);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::pairwise, "fp32"), row) == 1.0);  // ((p1+p2)+p3)
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::blocked, "fp32", Rounding::rne, 2), row) == 1.0);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::blocked, "fp32", Rounding::rne, 3), row) == 1.0 + 2 * t);
  // Pairwise K=4: ((p1+p2)+(p3+p4)): t + t = 2t exactly, then 1 + 2t is exact in fp16.
  const std::vector<double> row4 = {t, t, 1.0, 0.0};
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::pairwise, "fp32"), {1.0, 0.0, t, t}) == 1.0 + 2 * t);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), {1.0, 0.0, t, t}) == 1.0);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::pairwise, "fp32"), row4) == 1.0 + 2 * t);
  // Directed rounding of the accumulator: rup moves 1 + 2^-11 up to 1 + 2^-10 at once.
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32", Rounding::rup), row) == 1.0 + 4 * t);
}

TEST_CASE("accumulator overflow: saturation, wrap-around and infinity take part in later additions", "[gemm]") {
  // fp8_e4m3 saturates at 448: 400 + 400 -> 448, then 448 - 400 = 48.
  CHECK(dot_with_ones(config("fp32", "fp32", "fp8_e4m3", AccOrder::sequential, "fp32"), {400, 400, -400}) == 48.0);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp8_e4m3", AccOrder::pairwise, "fp32"), {400, 400, -400}) == 48.0);
  CHECK(dot_with_ones(config("fp32", "fp32", nullptr, AccOrder::sequential, "fp32"), {400, 400, -400}) == 400.0);
  // int8 with wrap-around: 100 + 100 = 200 -> -56, then -56 - 100 = -156 -> 100.
  CHECK(dot_with_ones(config("fp32", "fp32", "fixed(i=7,f=0,overflow=wrap)", AccOrder::sequential, "fp32"), {100, 100, -100}) == 100.0);
  CHECK(dot_with_ones(config("fp32", "fp32", "fixed(i=7,f=0,overflow=wrap)", AccOrder::sequential, "fp32"), {100, 100, 100}) == 44.0);
  // int8 saturating: 100 + 100 -> 127, 127 - 100 = 27.
  CHECK(dot_with_ones(config("fp32", "fp32", "int8", AccOrder::sequential, "fp32"), {100, 100, -100}) == 27.0);
  // fp16 overflows to Inf at 65520; Inf - 60000 stays Inf.
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), {60000, 60000, -60000}) == HUGE_VAL);
  CHECK(dot_with_ones(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32", Rounding::rtz), {60000, 60000, -60000}) == 5504.0);
}

TEST_CASE("IEEE specials and the sign of zero sums", "[gemm]") {
  // Inf * 0 = NaN; NaN propagates; +Inf + -Inf = NaN.
  Matrix a(1, 2), b(2, 1);
  a(0, 0) = HUGE_VAL;
  a(0, 1) = 1;
  b(0, 0) = 0;
  b(1, 0) = 1;
  const GemmConfig c = config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32");
  CHECK(std::isnan(gemm(c, a, b).values(0, 0)));
  CHECK(std::isnan(gemm_reference(c, a, b).values(0, 0)));
  // A NaN reaching an integer accumulator is an error naming the element.
  REQUIRE_THROWS_WITH(gemm(config("fp32", "fp32", "int32", AccOrder::sequential, "fp32"), a, b), Catch::Contains("C[0][0]"));
  // x + (-x) = +0, except under rdn (-0); with all products -0 the exact sum (+0 included) is +0.
  CHECK(!std::signbit(dot_with_ones(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32"), {1, -1})));
  CHECK(std::signbit(dot_with_ones(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32", Rounding::rdn), {1, -1})));
  CHECK(!std::signbit(dot_with_ones(config("fp32", "fp32", nullptr, AccOrder::sequential, "fp32"), {-0.0, -0.0})));
  CHECK(std::signbit(dot_with_ones(config("fp32", "fp32", "fp32", AccOrder::pairwise, "fp32"), {-0.0, -0.0})));
  CHECK(!std::signbit(dot_with_ones(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32"), {-0.0, -0.0})));
  CHECK(std::signbit(dot_with_ones(config("int8", "int8", "int32", AccOrder::pairwise, "fp32"), {-0.0, -0.0})) == false);
}

// An accumulator without -0 (fixed point, fnuz) rounds a -0 zero sum to +0 (gemm.md rules 3 and 4), also
// on the exact-sum fast paths, where no rounding happens inside the accumulation (found by a differential
// run: the fast paths gave -0 for int8 and fnuz accumulators).
TEST_CASE("zero sums through an accumulator without -0 are +0 on every path", "[gemm][golden]") {
  // Pairwise over two -0 leaves: -0 in fp32; the int8 and fnuz accumulators hold only +0.
  CHECK(std::signbit(dot_with_ones(config("fp32", "fp32", "fp32", AccOrder::pairwise, "fp32"), {-0.0, -0.0})));
  CHECK(!std::signbit(dot_with_ones(config("fp32", "fp32", "int8", AccOrder::pairwise, "fp32"), {-0.0, -0.0})));
  CHECK(!std::signbit(dot_with_ones(config("fp32", "fp32", "fp8_e4m3fnuz", AccOrder::pairwise, "fp32"), {-0.0, -0.0})));
  // rdn: x + (-x) = -0 in fp32, +0 in an int8 accumulator.
  CHECK(std::signbit(dot_with_ones(config("int16", "fp32", "fp32", AccOrder::sequential, "fp32", Rounding::rdn), {1, -1})));
  CHECK(!std::signbit(dot_with_ones(config("int16", "fp32", "int8", AccOrder::sequential, "fp32", Rounding::rdn), {1, -1})));
  // Zero-heavy small integers (the exact-sum paths) against the reference, double and float interfaces.
  std::mt19937_64 rng(77);
  const char* accs[] = {"int8", "int32", "fixed(i=11,f=4,overflow=wrap)", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp16", "fp32"};
  const Rounding modes[] = {Rounding::rne, Rounding::rdn, Rounding::rup, Rounding::rtz};
  int mismatches = 0, zeros = 0;
  for (int trial = 0; trial < 600; ++trial) {
    GemmConfig c = config("fp16", "fp16", accs[rng() % std::size(accs)], static_cast<AccOrder>(rng() % 3), "fp32",
                          modes[rng() % std::size(modes)], 1 + static_cast<std::int64_t>(rng() % 3));
    const std::int64_t M = 2, K = 1 + static_cast<std::int64_t>(rng() % 6), N = 2;
    Matrix a(M, K), b(K, N);
    for (auto* m : {&a, &b})
      for (double& x : m->data) {
        const int pick = static_cast<int>(rng() % 5);
        x = pick == 0 ? 0.0 : pick == 1 ? -0.0 : pick == 2 ? 1.0 : pick == 3 ? -1.0 : 2.0;
      }
    const GemmResult ref = gemm_reference(c, a, b), fast = gemm(c, a, b);
    std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end()), cf(static_cast<std::size_t>(M * N));
    gemm_f32(c, af.data(), bf.data(), cf.data(), M, K, N);
    for (std::size_t e = 0; e < ref.codes.size(); ++e) {
      zeros += ref.values.data[e] == 0;
      if (!same(fast.values.data[e], ref.values.data[e]) || !same(cf[e], ref.values.data[e])) ++mismatches;
    }
  }
  CHECK(zeros > 200);
  CHECK(mismatches == 0);
}

namespace {
// The field a configuration error is about, from the error's structured site ("" when none).
std::string error_field(const std::function<void()>& f) {
  try {
    f();
  } catch (const GemmError& e) {
    return e.site().key;
  }
  return "no GemmError";
}
}  // namespace

TEST_CASE("configuration errors name the field (a command maps it to its option), never an option", "[gemm][errors]") {
  Matrix a(2, 3), b(2, 2);
  CHECK_THROWS_WITH(gemm(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32"), a, b), Catch::Contains("columns of A"));
  Matrix b3(3, 2);
  const GemmConfig blocked = config("fp32", "fp32", "fp32", AccOrder::blocked, "fp32");
  const GemmConfig graham = config("graham_L4", "fp32", "fp32", AccOrder::sequential, "fp32");
  const GemmConfig sr = config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32", Rounding::sr);
  CHECK_THROWS_WITH(gemm(blocked, a, b3), Catch::Contains("chunk") && !Catch::Contains("--"));
  CHECK(error_field([&] { gemm(blocked, a, b3); }) == "chunk");
  CHECK_THROWS_WITH(gemm(graham, a, b3), Catch::Contains("A's format") && !Catch::Contains("--"));
  CHECK(error_field([&] { gemm(graham, a, b3); }) == "a_format");
  CHECK_THROWS_WITH(gemm(sr, a, b3), Catch::Contains("stochastic"));
  CHECK(error_field([&] { gemm(sr, a, b3); }) == "rounding");
  Matrix nan_a(1, 1), one(1, 1);
  nan_a(0, 0) = std::nan("");
  CHECK_THROWS_WITH(gemm(config("int8", "fp32", "fp32", AccOrder::sequential, "fp32"), nan_a, one), Catch::Contains("A[0][0]"));
}

TEST_CASE("fast and exact paths equal the golden reference on random and adversarial matrices", "[gemm][golden]") {
  std::mt19937_64 rng(2024);
  const char* in_formats[] = {"fp8_e4m3", "fp8_e5m2", "int8", "fp16", "bf16", "fixed(i=3,f=4)", "fp8_e4m3fnuz", "fp4_e2m1", "fp32"};
  const char* acc_formats[] = {"fp32", "fp16", "bf16", "int32", "fixed(i=15,f=8)", "fixed(i=11,f=4,overflow=wrap)",
                               "fp8_e4m3", "float(e=8,m=10,subnormals=no)", "float(e=11,m=40)"};
  const char* out_formats[] = {"fp32", "fp16", "bf16", "fp8_e5m2", "int16"};
  const Rounding modes[] = {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn};
  std::map<GemmPath, int> paths;
  int mismatches = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    GemmConfig c;
    c.a_format = parse_format(in_formats[rng() % std::size(in_formats)]);
    c.b_format = parse_format(in_formats[rng() % std::size(in_formats)]);
    const int acc_pick = static_cast<int>(rng() % (std::size(acc_formats) + 1));
    if (acc_pick < static_cast<int>(std::size(acc_formats))) c.acc = parse_format(acc_formats[acc_pick]);
    c.order = static_cast<AccOrder>(rng() % 3);
    c.chunk = 1 + static_cast<std::int64_t>(rng() % 4);
    if (rng() % 5 == 0) c.product = parse_format(rng() % 2 ? "fp16" : "bf16");
    c.out_format = parse_format(out_formats[rng() % std::size(out_formats)]);
    c.rounding = trial % 3 == 0 ? modes[rng() % 5] : Rounding::rne;
    const std::int64_t M = 1 + static_cast<std::int64_t>(rng() % 4), K = 1 + static_cast<std::int64_t>(rng() % 24),
                       N = 1 + static_cast<std::int64_t>(rng() % 4);
    Matrix a(M, K), b(K, N);
    const int style = static_cast<int>(rng() % 4);
    std::normal_distribution<double> nd(0.0, style == 0 ? 1.0 : style == 1 ? 100.0 : 0.01);
    for (auto* m : {&a, &b})
      for (double& x : m->data) {
        x = nd(rng);
        if (style == 3) x = std::round(x * 8);                     // small integers: exact-sum paths
        if (rng() % 40 == 0) x = 0.0;
        if (rng() % 60 == 0) x = -0.0;
        if (rng() % 200 == 0) x = (rng() % 2 ? 1 : -1) * 1e6;      // overflow of narrow formats
      }
    if (trial % 50 == 0) a.data[0] = HUGE_VAL;
    const std::string diff = bitsim::test::fast_vs_reference(c, a, b, 1 + trial % 2, paths);
    if (!diff.empty() && ++mismatches < 6) UNSCOPED_INFO("trial " << trial << ": " << diff);
  }
  CHECK(mismatches == 0);
  // Every path was exercised.
  CHECK(paths[GemmPath::exact_sum_eigen_float] > 0);
  CHECK(paths[GemmPath::exact_sum_eigen_double] > 0);
  CHECK(paths[GemmPath::fp32_sequential] > 0);
  CHECK(paths[GemmPath::exact_kernel] > 0);
  CHECK(paths[GemmPath::reference] > 0);
}

TEST_CASE("results are identical for 1 and 2 threads", "[gemm][threads]") {
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  Matrix a(37, 150), b(150, 41);
  for (double& x : a.data) x = nd(rng);
  for (double& x : b.data) x = nd(rng);
  for (const GemmConfig& c : {config("fp8_e4m3", "fp8_e4m3", "fp32", AccOrder::sequential, "bf16"),
                              config("fp8_e5m2", "fp8_e5m2", "fp16", AccOrder::pairwise, "fp16"),
                              config("int8", "int8", "int32", AccOrder::sequential, "fp32")}) {
    const GemmResult one = gemm(c, a, b, 1), two = gemm(c, a, b, 2);
    INFO(gemm_path_name(one.path));
    REQUIRE(one.codes == two.codes);
    REQUIRE(std::memcmp(one.values.data.data(), two.values.data.data(), one.values.data.size() * sizeof(double)) == 0);
  }
}

TEST_CASE("the float interface equals the double interface", "[gemm]") {
  std::mt19937_64 rng(8);
  const char* ins[] = {"fp8_e4m3", "int8", "fp8_e5m2", "bf16", "fp4_e2m1"};
  const char* accs[] = {"fp32", "int32", "fp16", "bf16"};
  std::map<GemmPath, int> paths;
  for (int trial = 0; trial < 200; ++trial) {
    GemmConfig c;
    c.a_format = parse_format(ins[rng() % 5]);
    c.b_format = parse_format(ins[rng() % 5]);
    if (rng() % 6) c.acc = parse_format(accs[rng() % 4]);
    c.order = static_cast<AccOrder>(rng() % 2);
    c.out_format = parse_format(rng() % 2 ? "bf16" : "fp32");
    c.rounding = trial % 4 == 0 ? Rounding::rdn : Rounding::rne;
    const std::int64_t M = 1 + static_cast<std::int64_t>(rng() % 9), K = 1 + static_cast<std::int64_t>(rng() % 70),
                       N = 1 + static_cast<std::int64_t>(rng() % 40);
    Matrix a(M, K), b(K, N);
    std::normal_distribution<double> nd(0.0, trial % 3 == 0 ? 20.0 : 1.0);
    for (auto* m : {&a, &b})
      for (double& x : m->data) x = static_cast<float>(trial % 3 == 0 ? std::round(nd(rng)) : nd(rng));
    std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end()), cf(static_cast<std::size_t>(M * N));
    const GemmPath p = gemm_f32(c, af.data(), bf.data(), cf.data(), M, K, N, 1 + trial % 2);
    ++paths[p];
    const GemmResult r = gemm(c, a, b);
    for (std::size_t e = 0; e < cf.size(); ++e) {
      INFO("trial " << trial << " path " << gemm_path_name(p) << " element " << e);
      REQUIRE(same(static_cast<double>(cf[e]), r.values.data[e]));
    }
  }
  CHECK(paths[GemmPath::exact_sum_eigen_float] > 0);
  CHECK(paths[GemmPath::fp32_sequential] > 0);
}

TEST_CASE("fp32 accumulation of inexact fp32 products (fused path) equals the reference", "[gemm][golden]") {
  // Products of fp32 values are not exact in float; the fused multiply-add path must still give
  // round_fp32(s + exact product) at every step, near overflow, in the subnormal range and with specials.
  std::mt19937_64 rng(77);
  std::uniform_real_distribution<double> expo(-160, 140);
  int checked = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const std::int64_t M = 3, K = 1 + static_cast<std::int64_t>(rng() % 40), N = 35;  // N > 32: panel and tail columns
    Matrix a(M, K), b(K, N);
    for (auto* m : {&a, &b})
      for (double& x : m->data) {
        x = (rng() % 2 ? 1 : -1) * std::exp2(trial % 2 ? expo(rng) / 4 : expo(rng) / 2) * (1 + static_cast<double>(rng() % 1000) / 999);
        if (rng() % 97 == 0) x = rng() % 2 ? HUGE_VAL : 0.0;
      }
    const GemmConfig c = config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32");
    const GemmResult fast = gemm(c, a, b), ref = gemm_reference(c, a, b);
    CHECK(fast.path == GemmPath::fp32_sequential);
    for (std::size_t e = 0; e < ref.codes.size(); ++e, ++checked) {
      INFO("trial " << trial << " element " << e << " fast " << fast.values.data[e] << " ref " << ref.values.data[e]);
      REQUIRE(same(fast.values.data[e], ref.values.data[e]));
    }
  }
  CHECK(checked > 5000);
}

TEST_CASE("fp32 accumulation over a long k equals the reference", "[gemm][golden]") {
  // K = 700 (long accumulations, partial sums far above the terms); N = 40 has a 32-column panel and
  // 8 tail columns.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd(0.0, 3.0);
  Matrix a(9, 700), b(700, 40);
  for (double& x : a.data) x = static_cast<float>(nd(rng));
  for (double& x : b.data) x = static_cast<float>(nd(rng) * 1e-3);
  const GemmConfig c = config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32");
  const GemmResult fast = gemm(c, a, b, 2), ref = gemm_reference(c, a, b);
  REQUIRE(fast.path == GemmPath::fp32_sequential);
  for (std::size_t e = 0; e < ref.codes.size(); ++e) {
    INFO("element " << e);
    REQUIRE(same(fast.values.data[e], ref.values.data[e]));
  }
}
