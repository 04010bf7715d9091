// The aligned accumulation, a fused multi-term adder (docs/spec/gemm.md rule 11): hand-worked steps
// (cancellation, the largest term in every position, ties and signs at the cut, the alignment
// exponent, the accumulator inside or outside the group, the group order), its consistency with the
// other orders where rule 11 says they coincide, the fast path against the golden reference on random
// and adversarial matrices, the order's text, and the published configuration of docs/spec/gemm.md.
#include "sim/kernels/gemm.hpp"

#include "formats/format.hpp"

#include "gemm_config.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>

using namespace bitsim::sim;
using bitsim::formats::parse_format;
using bitsim::formats::Rounding;

namespace {

GemmConfig aligned(const char* in, const char* acc, const std::string& order, const char* out = "fp32",
                   Rounding mode = Rounding::rne, const char* product = nullptr) {
  GemmConfig c = bitsim::test::config(in, in, acc, AccOrder::sequential, out, mode, 0, product);
  parse_acc_order(order, c);
  return c;
}

bool same(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::memcmp(&x, &y, sizeof x) == 0;
}

// sum_k a_k x b_k through gemm() and the golden reference, which must agree bit for bit; the value.
double dot(const GemmConfig& c, const std::vector<double>& a, const std::vector<double>& b) {
  const auto K = static_cast<std::int64_t>(a.size());
  Matrix am(1, K), bm(K, 1);
  for (std::int64_t k = 0; k < K; ++k) am(0, k) = a[static_cast<std::size_t>(k)], bm(k, 0) = b[static_cast<std::size_t>(k)];
  const GemmResult fast = gemm(c, am, bm), ref = gemm_reference(c, am, bm);
  INFO("fast path: " << gemm_path_name(fast.path) << ", fast " << fast.values(0, 0) << ", reference " << ref.values(0, 0));
  REQUIRE(same(fast.values(0, 0), ref.values(0, 0)));
  REQUIRE(fast.codes == ref.codes);
  return ref.values(0, 0);
}
double dot(const GemmConfig& c, const std::vector<double>& a) { return dot(c, a, std::vector<double>(a.size(), 1.0)); }

const double kTiny = std::ldexp(1.0, -30);

}  // namespace

TEST_CASE("aligned: cancellation leaves what the cut kept, wherever the largest term is", "[gemm][aligned]") {
  // Terms 1, -1 and 2^-30 with 24 bits from the largest exponent (0): the grid is 2^-23, 2^-30 is cut to
  // 0 and the sum is exactly 0 (+0; -0 under rdn). Sequential fp32 keeps 2^-30. The position of the
  // largest term in the group does not matter.
  const std::string order = "aligned(group=3,width=24)";
  for (const auto& row : {std::vector<double>{1, -1, kTiny}, {kTiny, 1, -1}, {1, kTiny, -1}}) {
    const double v = dot(aligned("fp32", "fp32", order), row);
    CHECK(v == 0);
    CHECK_FALSE(std::signbit(v));
    CHECK(std::signbit(dot(aligned("fp32", "fp32", order, "fp32", Rounding::rdn), row)));
  }
  CHECK(dot(bitsim::test::config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32"), {1, -1, kTiny}) == kTiny);
  // With 31 bits the grid is 2^-30: 2^-30 survives.
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=3,width=31)"), {1, -1, kTiny}) == kTiny);
  // Without the large terms 2^-30 is the largest term and is kept whole.
  CHECK(dot(aligned("fp32", "fp32", order), {kTiny, 0, 0}) == kTiny);
}

TEST_CASE("aligned: the bits beyond the width, term by term: truncate, floor, rne, rna, sticky", "[gemm][aligned]") {
  // Width 4 next to the term 1: the grid is 2^-3 (sticky: 2^-4 with the last bit sticky).
  auto with = [](const char* beyond, const std::vector<double>& row) {
    return dot(aligned("fp32", "fp32", std::string("aligned(group=4,width=4,beyond=") + beyond + ")"), row);
  };
  // 0.1875 = 1.5 units: truncate and floor 1 unit, rne 2 (tie to even), rna 2, sticky 3 half-units.
  CHECK(with("truncate", {1, 0.1875}) == 1.125);
  CHECK(with("floor", {1, 0.1875}) == 1.125);
  CHECK(with("rne", {1, 0.1875}) == 1.25);
  CHECK(with("rna", {1, 0.1875}) == 1.25);
  CHECK(with("sticky", {1, 0.1875}) == 1.1875);
  // 0.0625 = half a unit: rne ties to even (0), rna away (1 unit); sticky keeps it (one half-unit).
  CHECK(with("truncate", {1, 0.0625}) == 1);
  CHECK(with("rne", {1, 0.0625}) == 1);
  CHECK(with("rna", {1, 0.0625}) == 1.125);
  CHECK(with("sticky", {1, 0.0625}) == 1.0625);
  // 0.03125 = a quarter unit: every rounding but floor (for negatives) and sticky drops it; sticky
  // makes it one half-unit (0.0625): round to odd on the finer grid.
  CHECK(with("rna", {1, 0.03125}) == 1);
  CHECK(with("sticky", {1, 0.03125}) == 1.0625);
  // A negative term, -0.09375 = -0.75 units: truncate drops it, floor takes -1 unit, rne and rna -1,
  // sticky -0.75 units to the half-unit grid toward zero (-1 half-unit) and sticky: -0.09375 -> -0.0625.
  CHECK(with("truncate", {1, -0.09375}) == 1);
  CHECK(with("floor", {1, -0.09375}) == 0.875);
  CHECK(with("rne", {1, -0.09375}) == 0.875);
  CHECK(with("rna", {1, -0.09375}) == 0.875);
  CHECK(with("sticky", {1, -0.09375}) == 0.9375);
  // Each term is cut alone: three terms of 0.8 units each add nothing under truncate.
  CHECK(with("truncate", {1, 0.1, 0.1, 0.1}) == 1);
}

TEST_CASE("aligned: lead=exponents aligns a product by its operands' exponents", "[gemm][aligned]") {
  // 1.5 x 1.5 = 2.25 has exponent 1, but its operands' exponents sum to 0, as a datapath that aligns
  // the unnormalised products sees it. With 4 bits the grid is then 2^-3 instead of 2^-2: the second
  // product, 0.125 x 1, survives only under lead=exponents.
  const std::vector<double> a = {1.5, 0.125}, b = {1.5, 1};
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=2,width=4,lead=value)"), a, b) == 2.25);
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=2,width=4,lead=exponents)"), a, b) == 2.375);
  // A subnormal operand's exponent is its format's emin: fp16's smallest subnormal 2^-24 has exponent
  // -14 there, so 2^-24 x 2^10 = 2^-14 leads at -4 (not -14); next to 2^-10 x 1 (exponent -10) with
  // width 4 the grid is 2^-7 under lead=exponents and 2^-13 under lead=value.
  const double sub = std::ldexp(1.0, -24), big = std::ldexp(1.0, 10), small = std::ldexp(1.0, -10);
  CHECK(dot(aligned("fp16", "fp32", "aligned(group=2,width=4,lead=value)"), {sub, small}, {big, 1}) ==
        std::ldexp(1.0, -10));  // 2^-14 is below 2^-13: cut
  CHECK(dot(aligned("fp16", "fp32", "aligned(group=2,width=4,lead=exponents)"), {sub, small}, {big, 1}) == 0);
}

TEST_CASE("aligned: the accumulator inside the group is cut too, outside it the group order applies", "[gemm][aligned]") {
  // Products 1, 2^-4, 2^-4, 2^-4, 2^-4 with width 4 (grid 2^-3 next to 1), one product per group.
  const double t = 0.0625;
  const std::vector<double> row = {1, t, t, t, t};
  // acc=aligned: each step aligns the accumulator 1 with 2^-4 and drops it: 1.
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=1,width=4,acc=aligned)"), row) == 1);
  // Two products per group: 1 + t (t cut) = 1, then 1 + t + t: grid 2^-3 keeps neither: 1. With
  // acc=separate the groups are (1, t) -> 1 (t cut next to 1), (t, t) -> 0.125 and (t) -> 0.0625, both
  // exact alone, added into the fp32 accumulator: 1.1875.
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=2,width=4,acc=aligned)"), row) == 1);
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=2,width=4,acc=separate)"), row) == 1.1875);
  // acc=separate, one product per group: the groups' sums are the products, added exactly into fp32.
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=1,width=4,acc=separate)"), row) == 1.25);
  // Group order with an fp16 accumulator and rtz: sequential 1 + 2^-11 is lost every time, the pairwise
  // tree adds the small ones first ((1 + s) + (s + s)) + s = 1 + 2^-10 (gemm.md section 1.2).
  const double s = std::ldexp(1.0, -11);
  const std::vector<double> k5 = {1, s, s, s, s};
  CHECK(dot(aligned("fp32", "fp16", "aligned(group=1,width=30,acc=separate,groups=sequential)", "fp32", Rounding::rtz), k5) == 1);
  CHECK(dot(aligned("fp32", "fp16", "aligned(group=1,width=30,acc=separate,groups=pairwise)", "fp32", Rounding::rtz), k5) ==
        1 + 2 * s);
}

TEST_CASE("aligned: specials, zero signs and saturation follow rules 3 and 4", "[gemm][aligned]") {
  const double inf = HUGE_VAL;
  CHECK(std::isnan(dot(aligned("fp32", "fp32", "aligned(group=2,width=8)"), {inf, -inf})));
  CHECK(dot(aligned("fp32", "fp32", "aligned(group=2,width=8)"), {inf, 1}) == inf);
  // A saturating accumulator turns Inf into its largest value, which later steps align as a number.
  CHECK(dot(aligned("fp16", "fp8_e4m3", "aligned(group=1,width=8)"), {inf, -1}) == 448);
  // All products -0: the accumulator starts at +0 inside the group, so +0; outside, the pairwise leaf is -0.
  CHECK_FALSE(std::signbit(dot(aligned("fp32", "fp32", "aligned(group=2,width=8)"), {-0.0, -0.0})));
  CHECK(std::signbit(dot(aligned("fp32", "fp32", "aligned(group=2,width=8,acc=separate,groups=pairwise)"), {-0.0, -0.0})));
  // A NaN (Inf x 0) that a fixed-point accumulator cannot take is an error.
  CHECK_THROWS_AS(dot(aligned("fp16", "int32", "aligned(group=2,width=8)"), {inf, 1}, {0, 1}), GemmError);
}

TEST_CASE("aligned: where rule 11 coincides with the other orders, the results are theirs", "[gemm][aligned][golden]") {
  // With a width covering every bit of every term nothing is cut: acc=aligned is the blocked order with
  // chunk = group, acc=separate with one product per group the sequential order and the pairwise tree.
  // fp8 products span 2^-18..2^18 with 8 significant bits and an fp16 accumulator's bits lie in
  // 2^-24..2^16: 58 bits from the top exponent cover them all, on the fast path.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> nd(0.0, 4.0);
  const Rounding modes[] = {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn};
  int compared = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::int64_t M = 2, K = 1 + static_cast<std::int64_t>(rng() % 20), N = 2, g = 1 + static_cast<std::int64_t>(rng() % 6);
    Matrix a(M, K), b(K, N);
    for (auto* m : {&a, &b})
      for (double& x : m->data) x = rng() % 9 == 0 ? std::ldexp(nd(rng), -8) : nd(rng);
    const Rounding mode = modes[rng() % 5];
    auto run = [&](AccOrder order, std::int64_t chunk, const std::string& text) {
      GemmConfig c = bitsim::test::config("fp8_e4m3", "fp8_e4m3", "fp16", order, "fp32", mode, chunk);
      if (!text.empty()) parse_acc_order(text, c);
      const GemmResult r = gemm(c, a, b);
      if (!text.empty()) CHECK(r.path == GemmPath::aligned_kernel);
      return r.codes;
    };
    CHECK(run(AccOrder::blocked, g, "") == run(AccOrder::sequential, 0, fmt::format("aligned(group={},width=58)", g)));
    CHECK(run(AccOrder::sequential, 0, "") == run(AccOrder::sequential, 0, "aligned(group=1,width=58,acc=separate)"));
    CHECK(run(AccOrder::pairwise, 0, "") ==
          run(AccOrder::sequential, 0, "aligned(group=1,width=58,acc=separate,groups=pairwise)"));
    ++compared;
  }
  CHECK(compared == 300);
}

TEST_CASE("aligned: the fast path equals the golden reference on random and adversarial matrices", "[gemm][aligned][golden]") {
  std::mt19937_64 rng(20261206);
  const char* in_formats[] = {"fp8_e4m3", "fp8_e5m2", "int8", "fp16", "bf16", "fixed(i=3,f=4)", "fp8_e4m3fnuz", "fp4_e2m1", "fp32"};
  const char* acc_formats[] = {"fp32", "fp16", "bf16", "float(e=8,m=13)", "int32", "fixed(i=15,f=8)",
                               "fixed(i=11,f=4,overflow=wrap)", "fp8_e4m3", "float(e=8,m=10,subnormals=no)", "float(e=11,m=40)"};
  const char* out_formats[] = {"fp32", "fp16", "bf16", "fp8_e5m2", "int16"};
  const char* beyond[] = {"truncate", "floor", "rne", "rna", "sticky"};
  const Rounding modes[] = {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn};
  std::map<GemmPath, int> paths;
  int mismatches = 0;
  for (int trial = 0; trial < 1200; ++trial) {
    GemmConfig c;
    c.a_format = parse_format(in_formats[rng() % std::size(in_formats)]);
    c.b_format = parse_format(in_formats[rng() % std::size(in_formats)]);
    c.acc = parse_format(acc_formats[rng() % std::size(acc_formats)]);
    if (rng() % 5 == 0) c.product = parse_format(rng() % 2 ? "fp16" : "bf16");
    c.out_format = parse_format(out_formats[rng() % std::size(out_formats)]);
    c.rounding = modes[rng() % 5];
    const bool separate = rng() % 3 == 0;
    // Widths up to 64 reach past the fast path's 58 bits (the golden reference answers those).
    const std::string order = fmt::format("aligned(group={},width={},beyond={},lead={},acc={},groups={})", 1 + rng() % 9,
                                          1 + rng() % 64, beyond[rng() % 5], rng() % 2 ? "value" : "exponents",
                                          separate ? "separate" : "aligned", separate && rng() % 2 ? "pairwise" : "sequential");
    parse_acc_order(order, c);
    const std::int64_t M = 1 + static_cast<std::int64_t>(rng() % 3), K = 1 + static_cast<std::int64_t>(rng() % 24),
                       N = 1 + static_cast<std::int64_t>(rng() % 3);
    Matrix a(M, K), b(K, N);
    const int style = static_cast<int>(rng() % 4);
    std::normal_distribution<double> nd(0.0, style == 0 ? 1.0 : style == 1 ? 100.0 : 0.01);
    for (auto* m : {&a, &b})
      for (double& x : m->data) {
        x = nd(rng);
        if (style == 3) x = std::round(x * 8);                // equal magnitudes: cancellation, ties
        if (rng() % 8 == 0) x = -a.data[rng() % a.data.size()];  // repeated magnitudes with both signs
        if (rng() % 40 == 0) x = 0.0;
        if (rng() % 60 == 0) x = -0.0;
        if (rng() % 200 == 0) x = (rng() % 2 ? 1 : -1) * 1e6;  // overflow of narrow formats
      }
    if (trial % 50 == 0) a.data[0] = HUGE_VAL;
    const std::string diff = bitsim::test::fast_vs_reference(c, a, b, 1 + trial % 2, paths);
    if (!diff.empty() && ++mismatches < 6) UNSCOPED_INFO("trial " << trial << " " << order << ": " << diff);
  }
  CHECK(mismatches == 0);
  for (auto [p, n] : paths) UNSCOPED_INFO(gemm_path_name(p) << ": " << n);
  CHECK(paths[GemmPath::aligned_kernel] > 600);
  CHECK(paths[GemmPath::reference] > 0);
}

TEST_CASE("aligned: the order's text, its canonical form and its errors", "[gemm][aligned][errors]") {
  GemmConfig c = aligned("fp16", "fp32", "aligned( group = 8, width = 25 )");
  CHECK(c.order == AccOrder::aligned);
  CHECK(c.aligned.group == 8);
  CHECK(c.aligned.width == 25);
  CHECK(c.aligned.beyond == AlignRounding::truncate);
  CHECK(c.aligned.lead == AlignLead::value);
  CHECK(c.aligned.acc_in_group);
  CHECK(acc_order_text(c) == "aligned(group=8,width=25,beyond=truncate,lead=value,acc=aligned,groups=sequential)");
  GemmConfig d = c;
  parse_acc_order(acc_order_text(c), d);
  CHECK(d.aligned == c.aligned);
  parse_acc_order("pairwise", d);
  CHECK(d.order == AccOrder::pairwise);
  CHECK(acc_order_text(d) == "pairwise");
  auto error_of = [](const std::string& text) {
    GemmConfig x;
    try {
      parse_acc_order(text, x);
    } catch (const GemmError& e) {
      CHECK(e.site().key == "order");
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(error_of("aligned(width=4)"), Contains("missing required key 'group'"));
  CHECK_THAT(error_of("aligned(group=0,width=4)"), Contains("'group' out of range"));
  CHECK_THAT(error_of("aligned(group=2,width=4097)"), Contains("'width' out of range"));
  CHECK_THAT(error_of("aligned(group=2,width=4,beyond=up)"), Contains("key 'beyond'"));
  CHECK_THAT(error_of("aligned(group=2,width=4,lead=max)"), Contains("key 'lead'"));
  CHECK_THAT(error_of("aligned(group=2,width=4,groups=pairwise)"), Contains("needs acc=separate"));
  CHECK_THAT(error_of("aligned(group=2,width=4,colour=red)"), Contains("unknown key 'colour'"));
  CHECK_THAT(error_of("aligned"), Contains("needs its parameters"));
  CHECK_THAT(error_of("fused"), Contains("unknown order 'fused'"));
  // The aligned order needs an accumulator format.
  GemmConfig exact = bitsim::test::config("fp16", "fp16", nullptr, AccOrder::sequential, "fp32");
  parse_acc_order("aligned(group=2,width=4)", exact);
  CHECK_THROWS_WITH(validate(exact), Contains("give the accumulator a format"));
}

TEST_CASE("aligned: the Hopper FP8 configuration of docs/spec/gemm.md drops what 14 bits cannot hold", "[gemm][aligned]") {
  // 32 e4m3 products and the accumulator per step, 13 fraction bits after alignment to the largest
  // operand-exponent sum, truncated, normalised toward zero into e8m13.
  const std::string order = "aligned(group=32,width=14,beyond=truncate,lead=exponents)";
  GemmConfig c = aligned("fp8_e4m3", "float(e=8,m=13)", order, "fp32", Rounding::rtz);
  // 1 x 1 + 2^-9 x 2^-5 (= 2^-14): the grid next to exponent 0 is 2^-13, so 2^-14 is lost; an fp32
  // sequential accumulation keeps it.
  CHECK(dot(c, {1, std::ldexp(1.0, -9)}, {1, std::ldexp(1.0, -5)}) == 1);
  CHECK(dot(bitsim::test::config("fp8_e4m3", "fp8_e4m3", "fp32", AccOrder::sequential, "fp32"), {1, std::ldexp(1.0, -9)},
            {1, std::ldexp(1.0, -5)}) == 1 + std::ldexp(1.0, -14));
  // 2^-13 is kept; the sum 1 + 2^-13 fits e8m13.
  CHECK(dot(c, {1, std::ldexp(1.0, -8)}, {1, std::ldexp(1.0, -5)}) == 1 + std::ldexp(1.0, -13));
  // Over the K = 64 products 1, then 63 x 2^-14: each group drops its small products (the grid is set
  // by the accumulator's 1): 1, where the exact sum is 1 + 63 x 2^-14.
  std::vector<double> a(64, std::ldexp(1.0, -9)), b(64, std::ldexp(1.0, -5));
  a[0] = b[0] = 1;
  CHECK(dot(c, a, b) == 1);
}
