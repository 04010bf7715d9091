// Semantics of the golden arithmetic that no oracle library states: NaN conventions, comparisons,
// min/max, conversions to integers, fixed point, options, sr, wide formats; and the vector files and
// mismatch explanations built on it (hw/).
#include "hw/arith.hpp"
#include "hw/explain.hpp"
#include "hw/vectors.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace bitsim;
using namespace bitsim::formats;

namespace {

ArithResult run(Op op, const char* format, std::vector<std::uint64_t> codes, ArithOptions o = {}) {
  std::vector<BigInt> ops;
  for (auto c : codes) ops.push_back(BigInt(c));
  return arith(op, parse_format(format), ops, o);
}

ArithOptions nan_policy(NanPolicy p) {
  ArithOptions o;
  o.nan = p;
  return o;
}

std::uint64_t code(const ArithResult& r) { return static_cast<std::uint64_t>(r.code); }

}  // namespace

TEST_CASE("arith: NaN results follow the canonical, x86 and Arm conventions", "[arith]") {
  // fp32: qNaN with payload 1 (7FC00001), negative sNaN with payload 2 (FF800002).
  const std::uint64_t q = 0x7FC00001, s = 0xFF800002, one = 0x3F800000, inf = 0x7F800000, zero = 0;
  SECTION("canonical (RISC-V): always 7FC00000; invalid only for sNaN or an invalid operation") {
    auto r = run(Op::add, "fp32", {q, one});
    CHECK(code(r) == 0x7FC00000);
    CHECK(r.flags == 0);
    r = run(Op::mul, "fp32", {one, s});
    CHECK(code(r) == 0x7FC00000);
    CHECK(r.flags == flag::invalid);
    r = run(Op::mul, "fp32", {inf, zero});
    CHECK(code(r) == 0x7FC00000);
    CHECK(r.flags == flag::invalid);
  }
  SECTION("x86: the first NaN operand, quieted; the default NaN has the sign bit set") {
    CHECK(code(run(Op::add, "fp32", {q, s}, nan_policy(NanPolicy::x86))) == q);
    CHECK(code(run(Op::add, "fp32", {s, q}, nan_policy(NanPolicy::x86))) == 0xFFC00002);
    CHECK(code(run(Op::sub, "fp32", {one, s}, nan_policy(NanPolicy::x86))) == 0xFFC00002);  // sub keeps b's sign
    CHECK(code(run(Op::mul, "fp32", {inf, zero}, nan_policy(NanPolicy::x86))) == 0xFFC00000);
    CHECK(code(run(Op::sqrt, "fp32", {0xBF800000}, nan_policy(NanPolicy::x86))) == 0xFFC00000);
  }
  SECTION("Arm: a signalling NaN wins over a quiet one; fma reads the addend first") {
    CHECK(code(run(Op::add, "fp32", {q, s}, nan_policy(NanPolicy::arm))) == 0xFFC00002);
    CHECK(code(run(Op::add, "fp32", {q, 0x7FC00007}, nan_policy(NanPolicy::arm))) == q);
    CHECK(code(run(Op::fma, "fp32", {0x7FC00005, one, q}, nan_policy(NanPolicy::arm))) == q);
    CHECK(code(run(Op::fma, "fp32", {0x7FC00005, one, q}, nan_policy(NanPolicy::x86))) == 0x7FC00005);
    // 0 x Inf + qNaN: Arm returns the default NaN and signals invalid, x86 the addend without invalid
    // (Intel SDM vol. 1 table 14-17), RISC-V the canonical NaN with invalid.
    auto arm = run(Op::fma, "fp32", {zero, inf, q}, nan_policy(NanPolicy::arm));
    CHECK(code(arm) == 0x7FC00000);
    CHECK(arm.flags == flag::invalid);
    auto x86 = run(Op::fma, "fp32", {zero, inf, q}, nan_policy(NanPolicy::x86));
    CHECK(code(x86) == q);
    CHECK(x86.flags == 0);
    CHECK(run(Op::fma, "fp32", {zero, inf, q}, nan_policy(NanPolicy::canonical)).flags == flag::invalid);
  }
  SECTION("formats without NaN give +0 and invalid; fn formats have one quiet NaN per sign") {
    auto r = run(Op::div, "fp4_e2m1", {0, 0});
    CHECK(code(r) == 0);
    CHECK(r.flags == flag::invalid);
    CHECK(code(run(Op::mul, "fp8_e4m3", {0xFF, 0x38}, nan_policy(NanPolicy::x86))) == 0xFF);
    CHECK(run(Op::mul, "fp8_e4m3", {0xFF, 0x38}).flags == 0);
  }
}

TEST_CASE("arith: division by zero and infinite results", "[arith]") {
  auto r = run(Op::div, "fp16", {0x3C00, 0x8000});
  CHECK(code(r) == 0xFC00);
  CHECK(r.flags == flag::divide_by_zero);
  // No infinity in fp8_e4m3: saturation, divide-by-zero only.
  r = run(Op::div, "fp8_e4m3", {0xB8, 0x00});
  CHECK(code(r) == 0xFE);
  CHECK(r.flags == flag::divide_by_zero);
  // Fixed point: the end of the range of the quotient's sign, also when the format wraps.
  r = run(Op::div, "fixed(i=3,f=4,overflow=wrap)", {0x10, 0x00});
  CHECK(code(r) == 0x7F);
  CHECK(r.flags == flag::divide_by_zero);
  r = run(Op::div, "int8", {0, 0});
  CHECK(code(r) == 0);
  CHECK(r.flags == flag::invalid);
}

TEST_CASE("arith: signed zeros of sums follow IEEE 754 6.3", "[arith]") {
  const std::uint64_t one = 0x3C00, minus_one = 0xBC00, pz = 0x0000, nz = 0x8000;
  CHECK(code(run(Op::add, "fp16", {one, minus_one})) == pz);
  ArithOptions down;
  down.rounding.mode = Rounding::rdn;
  CHECK(code(run(Op::add, "fp16", {one, minus_one}, down)) == nz);
  CHECK(code(run(Op::add, "fp16", {nz, nz})) == nz);
  CHECK(code(run(Op::add, "fp16", {nz, pz})) == pz);
  CHECK(code(run(Op::sub, "fp16", {nz, pz})) == nz);
  CHECK(code(run(Op::sqrt, "fp16", {nz})) == nz);
  CHECK(code(run(Op::fma, "fp16", {nz, one, nz})) == nz);
  CHECK(code(run(Op::fma, "fp16", {one, one, minus_one}, down)) == nz);
  // A tiny negative result rounds to -0, which fnuz does not have.
  CHECK(code(run(Op::mul, "fp8_e5m2", {0x81, 0x01})) == 0x80);
  CHECK(code(run(Op::mul, "fp8_e5m2fnuz", {0x81, 0x01})) == 0x00);
}

TEST_CASE("arith: comparisons give 0 or 1 and raise invalid as IEEE 754 5.11 says", "[arith]") {
  const std::uint64_t one = 0x3C00, two = 0x4000, qnan = 0x7E00, snan = 0x7C01, pz = 0, nz = 0x8000;
  CHECK(code(run(Op::lt, "fp16", {one, two})) == 1);
  CHECK(code(run(Op::le, "fp16", {two, one})) == 0);
  CHECK(code(run(Op::eq, "fp16", {pz, nz})) == 1);
  CHECK(run(Op::eq, "fp16", {qnan, one}).flags == 0);
  CHECK(run(Op::eq, "fp16", {snan, one}).flags == flag::invalid);
  CHECK(run(Op::lt, "fp16", {qnan, one}).flags == flag::invalid);
  CHECK(run(Op::lt_quiet, "fp16", {qnan, one}).flags == 0);
  CHECK(run(Op::eq_signaling, "fp16", {qnan, qnan}).flags == flag::invalid);
  CHECK(code(run(Op::le_quiet, "fp16", {qnan, qnan})) == 0);
  CHECK(run(Op::lt, "fp16", {one, two}).width == 1);
  CHECK(code(run(Op::lt, "int8", {0xFF, 0x01})) == 1);  // -1 < 1
}

TEST_CASE("arith: min and max per convention", "[arith]") {
  const std::uint64_t one = 0x3C00, qnan = 0x7E01, snan = 0x7C01, pz = 0, nz = 0x8000;
  // canonical = IEEE 754-2019 minimumNumber (RISC-V fmin): the number wins; -0 < +0.
  CHECK(code(run(Op::min, "fp16", {qnan, one})) == one);
  CHECK(run(Op::min, "fp16", {snan, one}).flags == flag::invalid);
  CHECK(code(run(Op::min, "fp16", {qnan, qnan})) == 0x7E00);
  CHECK(code(run(Op::min, "fp16", {pz, nz})) == nz);
  CHECK(code(run(Op::max, "fp16", {nz, pz})) == pz);
  // x86 MINSS: a < b ? a : b - so b for a NaN or equal zeros, unchanged, and invalid for any NaN.
  auto r = run(Op::min, "fp16", {one, snan}, nan_policy(NanPolicy::x86));
  CHECK(code(r) == snan);
  CHECK(r.flags == flag::invalid);
  CHECK(code(run(Op::min, "fp16", {nz, pz}, nan_policy(NanPolicy::x86))) == pz);
  // Arm FMIN: NaN propagates.
  CHECK(code(run(Op::min, "fp16", {one, qnan}, nan_policy(NanPolicy::arm))) == qnan);
}

TEST_CASE("arith: conversions between formats, to integers per convention", "[arith]") {
  const Format fp32 = parse_format("fp32"), fp16 = parse_format("fp16"), i8 = parse_format("int8"),
               u8 = parse_format("uint8"), e4m3 = parse_format("fp8_e4m3");
  auto conv = [](const Format& a, const Format& b, std::uint64_t c, ArithOptions o = {}) {
    return arith(Op::convert, a, {BigInt(c)}, o, 0, &b);
  };
  // 1 + 2^-11 + 2^-23: just above the fp16 tie between 1 and 1 + 2^-10: rounds up, inexact.
  auto r = conv(fp32, fp16, 0x3F801001);
  CHECK(code(r) == 0x3C01);
  CHECK(r.flags == flag::inexact);
  // NaN payloads narrow by dropping low fraction bits (x86), or become canonical.
  CHECK(code(conv(fp32, fp16, 0xFFA00000, nan_policy(NanPolicy::x86))) == 0xFF00);
  CHECK(conv(fp32, fp16, 0xFFA00000, nan_policy(NanPolicy::x86)).flags == flag::invalid);  // it was signalling
  CHECK(code(conv(fp32, fp16, 0xFFA00000)) == 0x7E00);
  CHECK(code(conv(fp16, e4m3, 0xFE00)) == 0x7F);
  // To integers: out of range and NaN are invalid, not overflow; the code follows the convention.
  r = conv(fp32, i8, 0x43800000);  // 256
  CHECK(code(r) == 0x7F);
  CHECK(r.flags == flag::invalid);
  CHECK(code(conv(fp32, i8, 0x43800000, nan_policy(NanPolicy::x86))) == 0x80);  // integer indefinite
  CHECK(code(conv(fp32, i8, 0x7FC00000)) == 0x7F);                              // RISC-V: largest
  CHECK(code(conv(fp32, i8, 0x7FC00000, nan_policy(NanPolicy::arm))) == 0x00);
  CHECK(code(conv(fp32, u8, 0xBF400000)) == 0x00);  // -0.75 rounds to -1: invalid, saturated to 0
  CHECK(conv(fp32, u8, 0xBF400000).flags == flag::invalid);
  CHECK(code(conv(fp32, u8, 0xBE800000)) == 0x00);  // -0.25 rounds to -0 = 0: only inexact
  CHECK(conv(fp32, u8, 0xBE800000).flags == flag::inexact);
  // Integer to float: exact or rounded once.
  CHECK(code(conv(i8, e4m3, 0x7F)) == 0x70);  // 127 -> 128
  CHECK(conv(i8, e4m3, 0x7F).flags == flag::inexact);
}

TEST_CASE("arith: fixed-point arithmetic saturates or wraps with the overflow flag", "[arith]") {
  auto r = run(Op::add, "int8", {0x7F, 0x01});
  CHECK(code(r) == 0x7F);
  CHECK(r.flags == (flag::overflow | flag::inexact));
  r = run(Op::add, "fixed(i=7,f=0,overflow=wrap)", {0x7F, 0x01});
  CHECK(code(r) == 0x80);
  // 3/2 in fixed(i=3,f=0): a tie, to even.
  CHECK(code(run(Op::div, "fixed(i=3,f=0)", {3, 2})) == 2);
  ArithOptions rtz;
  rtz.rounding.mode = Rounding::rtz;
  CHECK(code(run(Op::div, "fixed(i=3,f=0)", {0xD, 2}, rtz)) == 0xF);  // -3/2 -> -1
  CHECK(code(run(Op::sqrt, "fixed(i=3,f=4)", {0x20})) == 0x17);        // sqrt(2) = 1.414 -> 1.4375 (23/16)
}

TEST_CASE("arith: stochastic rounding picks a neighbour, reproducibly, by the word", "[arith]") {
  ArithOptions sr;
  sr.rounding.mode = Rounding::sr;
  const Format f = parse_format("fp8_e4m3");
  std::mt19937 rng(3);
  int up = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t w = rng();
    // 1.125 * 1.125 = 1.265625, between 1.25 (0x3A) and 1.375 (0x3B); t = 0.125.
    const ArithResult r = arith(Op::mul, f, {BigInt(0x39), BigInt(0x39)}, sr, w);
    REQUIRE((code(r) == 0x3A || code(r) == 0x3B));
    CHECK(r.code == arith(Op::mul, f, {BigInt(0x39), BigInt(0x39)}, sr, w).code);
    // formats.md: up when floor(t * 2^32) + w >= 2^32.
    CHECK((code(r) == 0x3B) == (std::uint64_t(w) >= (std::uint64_t(1) << 32) - (std::uint64_t(1) << 29)));
    up += code(r) == 0x3B;
  }
  CHECK(up > 80);
  CHECK(up < 180);
}

TEST_CASE("arith: sqrt in a 128-bit format is correctly rounded", "[arith]") {
  const Format q = parse_format("float(e=15,m=112)");
  const BigInt two = BigInt(0x4000) << 112;  // 2.0
  const ArithResult r = arith(Op::sqrt, q, {two}, {});
  REQUIRE(r.exact_value);
  // r^2 < 2 < (r + ulp)^2 and 2 is nearer to... check the bracket and the rounding by midpoints.
  const Rational ulp = pow2(-112);
  const Rational lo = *r.exact_value, hi = lo + ulp, mid = lo + ulp / 2;
  CHECK(((lo * lo < 2 && 2 < hi * hi) || (lo * lo > 2)));
  const bool rounded_down = lo * lo < 2;
  if (rounded_down) CHECK(mid * mid > 2);
  else CHECK((lo - ulp / 2) * (lo - ulp / 2) < 2);
  CHECK(r.flags == flag::inexact);
  CHECK(r.unrounded.to_string() == "sqrt(2)");
  CHECK(r.unrounded.nearest_double() == std::sqrt(2.0));
}

TEST_CASE("arith: options text round-trips and errors name the item", "[arith]") {
  ArithOptions o = parse_arith_options("rounding=rtz, tininess=before nan=riscv daz ftz=1");
  CHECK(o.rounding.mode == Rounding::rtz);
  CHECK(o.tininess == Tininess::before_rounding);
  CHECK(o.nan == NanPolicy::canonical);
  CHECK(o.daz);
  CHECK(o.ftz);
  CHECK(parse_arith_options(arith_options_to_string(o)) == o);
  CHECK(parse_arith_options("") == ArithOptions{});
  // sr_bits without sr still prints, so that the text reads back equal (a fuzz_vectors finding).
  const ArithOptions bits_only = parse_arith_options("sr_bits=7");
  CHECK(arith_options_to_string(bits_only) == "sr_bits=7");
  CHECK(parse_arith_options(arith_options_to_string(bits_only)) == bits_only);
  CHECK_THROWS_WITH(parse_arith_options("rounding=fast"), Catch::Contains("rounding=fast"));
  CHECK_THROWS_WITH(parse_arith_options("tininess"), Catch::Contains("tininess"));
  CHECK_THROWS_WITH(parse_arith_options("flush"), Catch::Contains("unknown option 'flush'"));
  CHECK_THROWS_AS(run(Op::add, "graham_L4", {0, 0}), ArithError);
  CHECK_THROWS_WITH(run(Op::add, "fp8_e4m3", {0x100, 0}), Catch::Contains("does not fit"));
  CHECK_THROWS_AS(run(Op::add, "fp8_e4m3", {0}), ArithError);
}

TEST_CASE("arith: ulp distances", "[arith]") {
  const Format f = parse_format("fp16");
  CHECK(*ulp_distance(f, BigInt(0x3C01), BigInt(0x3C00)) == 1);
  CHECK(*ulp_distance(f, BigInt(0x8000), BigInt(0x0000)) == -1);
  CHECK(*ulp_distance(f, BigInt(0x0001), BigInt(0x8001)) == 3);
  CHECK(*ulp_distance(f, BigInt(0x7C00), BigInt(0x7BFF)) == 1);
  CHECK(!ulp_distance(f, BigInt(0x7E00), BigInt(0x3C00)));
  CHECK(*ulp_distance(parse_format("int8"), BigInt(0x80), BigInt(0x7F)) == -255);
}

TEST_CASE("vectors: TestFloat lines round-trip, corner operands and generation", "[hw]") {
  hw::VectorSetup s;
  s.op = Op::mul;
  s.format = parse_format("fp8_e4m3");
  const hw::Vector v = hw::expected_vector(s, {BigInt(0x3C), BigInt(0x45)}, 0);
  const std::string line = hw::format_vector(s, v);
  CHECK(line == "3C 45 4A 01");  // 1.5 * 3.25 = 4.875 -> 5 (rne), inexact
  const hw::Vector back = hw::parse_vector(s, " 3c\t45 4A 01\r");
  CHECK(back.operands == v.operands);
  CHECK(back.result == v.result);
  CHECK(back.flags == v.flags);
  CHECK_THROWS_WITH(hw::parse_vector(s, "3C 45 4A"), Catch::Contains("expected 4 tokens"));
  CHECK_THROWS_WITH(hw::parse_vector(s, "3C 145 4A 01"), Catch::Contains("token 2 (operand)"));
  CHECK_THROWS_WITH(hw::parse_vector(s, "3C 4G 4A 01"), Catch::Contains("not hex"));

  const auto corners = hw::corner_operands(s.format);
  for (std::uint64_t c : {0x00, 0x80, 0x01, 0x07, 0x08, 0x38, 0x7E, 0xFE, 0x7F})
    CHECK(std::find(corners.begin(), corners.end(), BigInt(c)) != corners.end());

  std::vector<hw::Vector> all;
  hw::GenerateOptions g;
  g.count = 100;
  hw::generate_vectors(s, g, [&](const hw::Vector& x) { all.push_back(x); });
  // Corner pairs, then (corners + 64 random) x {1.5, -1.5, 0.75} for product ties, then the random ones.
  CHECK(all.size() == corners.size() * corners.size() + (corners.size() + 64) * 3 + 100);
  std::vector<hw::Vector> again;
  hw::generate_vectors(s, g, [&](const hw::Vector& x) { again.push_back(x); });
  CHECK(hw::format_vector(s, again.back()) == hw::format_vector(s, all.back()));
  g.exhaustive = true;
  std::uint64_t n = 0;
  hw::generate_vectors(s, g, [&](const hw::Vector&) { ++n; });
  CHECK(n == 65536);
  s.format = parse_format("fp16");
  CHECK_THROWS_WITH(hw::generate_vectors(s, g, [](const hw::Vector&) {}), Catch::Contains("2^32"));
  // add/sub include exact ties: a + half an ulp of a.
  s.op = Op::add;
  s.format = parse_format("fp8_e5m2");
  g.exhaustive = false;
  g.count = 0;
  std::uint64_t ties = 0;
  hw::generate_vectors(s, g, [&](const hw::Vector& x) {
    const ArithResult r = arith(Op::add, s.format, x.operands, {});
    if (r.unrounded.kind == ValueKind::finite && r.exact_value && r.flags == flag::inexact) {
      const Rational d = r.unrounded.magnitude - *r.exact_value;
      const ArithResult other = arith(Op::add, s.format, x.operands, parse_arith_options("rounding=rna"));
      if (other.code != r.code && d != 0) ++ties;  // rne and rna differ only on ties
    }
  });
  CHECK(ties > 10);
}

TEST_CASE("vectors: the code lane parses, computes and writes what the BigInt path does", "[hw]") {
  // Every setup below fits 64-bit codes; the lane must give the same text, results, flags and errors.
  struct Case {
    Op op;
    const char* format;
    const char* to;
    const char* options;
  };
  const Case cases[] = {{Op::add, "fp16", nullptr, ""},
                        {Op::mul, "fp8_e4m3", nullptr, "rounding=rtz"},
                        {Op::fma, "bf16", nullptr, "tininess=before"},
                        {Op::convert, "fp32", "int8", "nan=x86"},
                        {Op::lt, "fp16", nullptr, ""},
                        {Op::sub, "fixed(i=40,f=23,overflow=wrap)", nullptr, ""},
                        {Op::div, "fp64", nullptr, "daz,ftz"},
                        {Op::add, "fp16", nullptr, "rounding=sr"}};
  for (const Case& c : cases) {
    hw::VectorSetup s;
    s.op = c.op;
    s.format = parse_format(c.format);
    if (c.to) s.to = parse_format(c.to);
    s.options = parse_arith_options(c.options);
    REQUIRE(hw::fits_code_vector(s));
    const hw::CodeLane lane(s);
    hw::GenerateOptions g;
    g.count = 3000;
    g.seed = 5;
    std::vector<std::string> big, codes;
    hw::generate_vectors(s, g, [&](const hw::Vector& v) { big.push_back(hw::format_vector(s, v)); });
    hw::generate_vectors(
        s, g, [&](const hw::Vector& v) { codes.push_back(hw::format_vector(s, v)); },
        [&](const hw::CodeLane& l, const hw::CodeVector& v) {
          std::string line;
          l.append(v, line);
          codes.push_back(line);
        });
    INFO(c.format << " " << op_name(c.op));
    CHECK(big == codes);
    // Each line read back by the lane and by parse_vector, and recomputed.
    std::uint64_t index = 0;
    for (const std::string& line : big) {
      const hw::Vector v = hw::parse_vector(s, line);
      hw::CodeVector cv = lane.parse(line);
      for (std::size_t i = 0; i < v.operands.size(); ++i) CHECK(BigInt(cv.operands[i]) == v.operands[i]);
      REQUIRE(BigInt(cv.result) == v.result);
      const std::uint32_t word = hw::vector_word(s, g.seed, index++);
      lane.expect(cv, word);
      const hw::Vector e = hw::expected_vector(s, v.operands, word);
      REQUIRE(BigInt(cv.result) == e.result);
      REQUIRE(cv.flags == e.flags);
    }
    // The same errors for bad lines.
    for (const char* bad : {"3C00 3C00 4000", "3C00 3C0G 4000 00", "3C00 13C00000000000000000000 4000 00", "0x 1 2 3", "1 2 3 4 5 6"}) {
      std::string lane_error = "none", vector_error = "none";
      try {
        (void)lane.parse(bad);
      } catch (const hw::VectorError& e) {
        lane_error = e.what();
      }
      try {
        (void)hw::parse_vector(s, bad);
      } catch (const hw::VectorError& e) {
        vector_error = e.what();
      }
      CHECK(lane_error == vector_error);
    }
  }
}

TEST_CASE("explain: a device that truncates is recognised as rtz, one with another bug is not", "[hw]") {
  hw::VectorSetup s;
  s.op = Op::mul;
  s.format = parse_format("fp8_e4m3");
  // The device computed 1.5 * 3.25 = 4.875 with truncation: 4.5 (0x49), inexact.
  hw::Vector device{{BigInt(0x3C), BigInt(0x45)}, BigInt(0x49), flag::inexact};
  hw::Explanation e = hw::explain_vector(s, device, 0);
  CHECK(e.expected.result == 0x4A);
  CHECK(e.differing_bits == 0x03);
  REQUIRE(e.ulps);
  CHECK(*e.ulps == 1);
  CHECK(e.direction == -1);
  CHECK(std::find(e.full_matches.begin(), e.full_matches.end(), "rounding=rtz") != e.full_matches.end());
  CHECK(std::find(e.full_matches.begin(), e.full_matches.end(), "rounding=rdn") != e.full_matches.end());
  CHECK(hw::describe(s, device, e).find("bits 1,0 differ") != std::string::npos);
  // The right result with a missing inexact flag: no mode explains it.
  device = hw::Vector{{BigInt(0x3C), BigInt(0x45)}, BigInt(0x4A), 0};
  e = hw::explain_vector(s, device, 0);
  CHECK(e.missing_flags == flag::inexact);
  CHECK(e.full_matches.empty());
  CHECK(hw::describe(s, device, e).find("missing inexact") != std::string::npos);
  // Tininess: 1.5*2^-7 x 1.25*2^-8 = 0.9375*2^-14 rounds to 2^-14, the smallest normal of fp8_e5m2 -
  // not tiny after rounding (x86, RISC-V), tiny before (Arm): underflow only in the second case.
  s.format = parse_format("fp8_e5m2");
  const hw::Vector after = hw::expected_vector(s, {BigInt(0x22), BigInt(0x1D)}, 0);
  CHECK(after.result == 0x04);
  CHECK(after.flags == flag::inexact);
  hw::VectorSetup sb = s;
  sb.options.tininess = Tininess::before_rounding;
  const hw::Vector arm = hw::expected_vector(sb, {BigInt(0x22), BigInt(0x1D)}, 0);
  CHECK(arm.flags == (flag::underflow | flag::inexact));
  e = hw::explain_vector(s, arm, 0);
  CHECK(e.full_matches == std::vector<std::string>{"tininess=before"});
  CHECK(hw::flag_names(0x13) == "invalid+underflow+inexact");
}
