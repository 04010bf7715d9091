// IEEE P3109 formats (binaryKpP{s}{e|f}): the names, every code against the working group's definition
// written here from its interim report (K bits, precision P, K-P exponent bits with bias 2^(K-P-1),
// subnormals, one zero 0...0, one NaN 1 0...0, and for the extended formats +Inf 0 1...1 and -Inf
// 1...1), values read from its published value tables, and rounding into special=inuz.
// bench/compare_p3109_tables.py compares every code with the tables themselves.
#include "formats/format.hpp"
#include "formats/format_describe.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "hw/arith.hpp"
#include "hw/arith_fast.hpp"
#include "compare.hpp"
#include "format_corpus.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <vector>

using namespace bitsim::formats;

namespace {

// The value of code c of the signed P3109 format (K, P, extended) by the interim report's definition.
double p3109_value(int k, int p, bool extended, std::uint64_t c) {
  const std::uint64_t sign_code = std::uint64_t{1} << (k - 1);
  if (c == sign_code) return std::numeric_limits<double>::quiet_NaN();
  if (extended && c == sign_code - 1) return HUGE_VAL;
  if (extended && c == 2 * sign_code - 1) return -HUGE_VAL;
  const bool negative = c > sign_code;
  const std::uint64_t magnitude = c & (sign_code - 1);
  const int trailing = p - 1;
  const std::int64_t bias = std::int64_t{1} << (k - p - 1);
  const std::uint64_t exponent = magnitude >> trailing;
  const std::uint64_t t = magnitude & ((std::uint64_t{1} << trailing) - 1);
  const double v = exponent == 0 ? std::ldexp(static_cast<double>(t), static_cast<int>(1 - bias - trailing))
                                 : std::ldexp(static_cast<double>((std::uint64_t{1} << trailing) + t),
                                              static_cast<int>(static_cast<std::int64_t>(exponent) - bias - trailing));
  return negative ? -v : v;
}

// The same, exactly (nullopt for the NaN and the infinities).
std::optional<Rational> p3109_exact(int k, int p, bool extended, std::uint64_t c) {
  const std::uint64_t sign_code = std::uint64_t{1} << (k - 1);
  if (c == sign_code || (extended && (c == sign_code - 1 || c == 2 * sign_code - 1))) return std::nullopt;
  const std::uint64_t magnitude = c & (sign_code - 1);
  const int trailing = p - 1;
  const std::int64_t bias = std::int64_t{1} << (k - p - 1);
  const std::uint64_t exponent = magnitude >> trailing;
  const std::uint64_t t = magnitude & ((std::uint64_t{1} << trailing) - 1);
  const Rational v = exponent == 0 ? Rational(t) * pow2(1 - bias - trailing)
                                           : Rational((std::uint64_t{1} << trailing) + t) *
                                                 pow2(static_cast<std::int64_t>(exponent) - bias - trailing);
  return c > sign_code ? Rational(-v) : v;
}

// The value of code c of the unsigned P3109 format (K, P, extended) by the interim report's definition:
// K - P + 1 exponent bits with bias 2^(K-P), P - 1 trailing bits, subnormals; 0...0 is zero, 1...1 the
// NaN and, extended, 1...10 +Inf. nullopt for the NaN and +Inf.
std::optional<Rational> p3109_unsigned_exact(int k, int p, bool extended, std::uint64_t c) {
  const std::uint64_t all_ones = (std::uint64_t{1} << k) - 1;
  if (c == all_ones || (extended && c == all_ones - 1)) return std::nullopt;
  const int trailing = p - 1;
  const std::int64_t bias = std::int64_t{1} << (k - p);
  const std::uint64_t exponent = c >> trailing;
  const std::uint64_t t = c & ((std::uint64_t{1} << trailing) - 1);
  return exponent == 0 ? Rational(t) * pow2(1 - bias - trailing)
                       : Rational((std::uint64_t{1} << trailing) + t) * pow2(static_cast<std::int64_t>(exponent) - bias - trailing);
}

double p3109_unsigned_value(int k, int p, bool extended, std::uint64_t c) {
  const std::uint64_t all_ones = (std::uint64_t{1} << k) - 1;
  if (c == all_ones) return std::numeric_limits<double>::quiet_NaN();
  if (extended && c == all_ones - 1) return HUGE_VAL;
  return nearest_double(*p3109_unsigned_exact(k, p, extended, c));
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

double decode(const std::string& name, std::uint64_t code) { return Quantizer(parse_format(name)).decode(code); }

}  // namespace

TEST_CASE("P3109 names: signed formats of every width and precision, errors for the rest", "[parse][p3109]") {
  CHECK(parse_format("binary8p4se").to_string() == "float(e=4,m=3,special=inuz)");
  CHECK(parse_format("binary8p4sf").to_string() == "float(e=4,m=3,special=fnuz)");
  CHECK(parse_format("binary8p4sf") == parse_format("fp8_e4m3fnuz"));
  CHECK(parse_format("binary8p3sf") == parse_format("fp8_e5m2fnuz"));
  CHECK(parse_format("binary8p1se").to_string() == "float(e=7,m=0,special=inuz)");
  CHECK(parse_format("binary8p7sf").to_string() == "float(e=1,m=6,special=fnuz)");
  CHECK(parse_format("binary16p11se").to_string() == "float(e=5,m=10,special=inuz)");
  CHECK(parse_format("binary3p1sf").to_string() == "float(e=2,m=0,special=fnuz)");
  CHECK(parse_format("binary32p24se").as<FloatFormat>().bias == 128);
  CHECK(parse_format("binary8p5se").alias() == "binary8p5se");
  CHECK(parse_format("binary12p5se").name() == "binary12p5se");
  // The 8-bit ones are listed aliases.
  int listed = 0;
  for (const auto& a : format_aliases()) listed += a.alias.starts_with("binary8p");
  CHECK(listed == 14 + 16);
  CHECK_THROWS_WITH(parse_format("binary8p4"), Catch::Contains("binary8p4se") && Catch::Contains("binary8p4uf"));
  CHECK_THROWS_WITH(parse_format("binary8p8se"), Catch::Contains("1 <= P <= K-1"));
  CHECK_THROWS_WITH(parse_format("binary8p0sf"), Catch::Contains("1 <= P <= K-1"));
  CHECK_THROWS_WITH(parse_format("binary20p1se"), Catch::Contains("15"));
  CHECK_THROWS_WITH(parse_format("binary2p1se"), Catch::Contains("no finite non-zero value"));
  CHECK_THROWS_WITH(parse_format("binary8p4sx"), Catch::Contains("unknown format"));
  CHECK_THROWS_WITH(parse_format("binary08p4se"), Catch::Contains("unknown format"));
}

TEST_CASE("P3109 signed formats: every code of widths 3 to 16 decodes as the interim report defines", "[p3109]") {
  int formats = 0;
  for (int k = 3; k <= 16; ++k)
    for (int p = 1; p <= k - 1; ++p)
      for (const bool extended : {true, false}) {
        const std::string name = fmt::format("binary{}p{}s{}", k, p, extended ? 'e' : 'f');
        INFO(name);
        const Format f = parse_format(name);
        ++formats;
        std::uint64_t wrong = 0;
        if (k - p > 10) {
          // Beyond a double's exponent range (bias >= 1024): the exact values of every 61st code.
          for (std::uint64_t c = 0; c < (std::uint64_t{1} << k); c += 61) {
            const GoldenResult g = golden_decode(f, BigInt(c));
            const std::optional<Rational> want = p3109_exact(k, p, extended, c);
            wrong += want ? !(g.kind == ValueKind::finite && (g.negative ? -*g.exact : *g.exact) == *want)
                          : g.kind == ValueKind::finite;
          }
          CHECK(wrong == 0);
          continue;
        }
        const Quantizer q(f);
        for (std::uint64_t c = 0; c < (std::uint64_t{1} << k); ++c) {
          const double want = p3109_value(k, p, extended, c);
          wrong += !same(q.decode(c), want);
          // Every value encodes back to its code (the NaN to the one NaN, +-Inf to theirs).
          wrong += *q.quantize(want).code != c;
        }
        CHECK(wrong == 0);
        if (k <= 8)  // the rational path too
          for (std::uint64_t c = 0; c < (std::uint64_t{1} << k); ++c)
            wrong += !same(golden_decode(f, BigInt(c)).value, p3109_value(k, p, extended, c));
        CHECK(wrong == 0);
      }
  CHECK(formats == 2 * (2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15));
}

TEST_CASE("P3109 value tables: values as the working group's tables list them", "[p3109][known]") {
  // Binary4p2se, the whole table: 0x0.4p+0 (subnormal), 0x1p-1, 0x1.8p-1, 0x1p+0, 0x1.8p+0, 0x1p+1, Inf;
  // 0x08 NaN; the negatives; 0x0f -Inf.
  const double b4p2se[16] = {0, 0.25, 0.5, 0.75, 1, 1.5, 2, HUGE_VAL, std::nan(""), -0.25, -0.5, -0.75, -1, -1.5, -2, -HUGE_VAL};
  for (std::uint64_t c = 0; c < 16; ++c) CHECK(same(decode("binary4p2se", c), b4p2se[c]));
  // Binary4p3se: 0x03 0x0.cp+0 (subnormal), 0x06 0x1.8p+0, 0x07 Inf.
  CHECK(decode("binary4p3se", 0x03) == 0.75);
  CHECK(decode("binary4p3se", 0x06) == 1.5);
  CHECK(std::isinf(decode("binary4p3se", 0x07)));
  // Binary8p4sf: 0x01 0x0.4p-8, 0x7f 0x1.ep+7 (finite), 0x80 NaN, 0xff -0x1.ep+7.
  CHECK(decode("binary8p4sf", 0x01) == std::ldexp(1.0, -10));
  CHECK(decode("binary8p4sf", 0x7f) == 240.0);
  CHECK(std::isnan(decode("binary8p4sf", 0x80)));
  CHECK(decode("binary8p4sf", 0xff) == -240.0);
  // Binary8p1se: 0x01 0x1p-63 (normal: no fraction bits), 0x7e 0x1p+62, 0x7f Inf, 0xff -Inf.
  CHECK(decode("binary8p1se", 0x01) == std::ldexp(1.0, -63));
  CHECK(decode("binary8p1se", 0x7e) == std::ldexp(1.0, 62));
  CHECK(decode("binary8p1se", 0x7f) == HUGE_VAL);
  CHECK(decode("binary8p1se", 0xff) == -HUGE_VAL);
  // Binary8p3se: 0x01 0x0.8p-16, 0x7e 0x1.8p+15, 0x7f Inf.
  CHECK(decode("binary8p3se", 0x01) == std::ldexp(1.0, -17));
  CHECK(decode("binary8p3se", 0x7e) == 49152.0);
  CHECK(decode("binary8p3se", 0x7f) == HUGE_VAL);
  // Binary8p7sf: 0x01 0x0.4p-4, 0x7f 0x1.fcp+0.
  CHECK(decode("binary8p7sf", 0x01) == std::ldexp(1.0, -6));
  CHECK(decode("binary8p7sf", 0x7f) == 0x1.fcp+0);
  // Binary16p11se: 0x0001 0x0.8p-24.
  CHECK(decode("binary16p11se", 0x0001) == std::ldexp(1.0, -25));
}

TEST_CASE("special=inuz: one zero, NaN in 1 0...0, overflow to the infinities in the all-ones magnitudes", "[p3109][known]") {
  const Quantizer q(parse_format("binary8p4se"));
  CHECK(*q.quantize(-0.0).code == 0x00);
  CHECK(*q.quantize(-1e-9).code == 0x00);  // rounds to zero: +0, there is no -0
  CHECK(std::signbit(q.quantize(-1e-9).value) == false);
  CHECK(*q.quantize(std::nan("")).code == 0x80);
  CHECK(*q.quantize(-std::nan("")).code == 0x80);
  CHECK(*q.quantize(HUGE_VAL).code == 0x7f);
  CHECK(*q.quantize(-HUGE_VAL).code == 0xff);
  CHECK(*q.quantize(224.0).code == 0x7e);  // largest finite
  CHECK(*q.quantize(232.0).code == 0x7e);  // the tie with the next grid point (240) goes to even
  CHECK(*q.quantize(232.5).code == 0x7f);  // beyond it: overflow to +Inf
  CHECK(*q.quantize(-1e6).code == 0xff);
  CHECK(*Quantizer(parse_format("binary8p4se"), {Rounding::rtz, 32}).quantize(1e6).code == 0x7e);
  CHECK(*Quantizer(parse_format("float(e=4,m=3,special=inuz,overflow=saturate)")).quantize(1e6).code == 0x7e);
  CHECK(*Quantizer(parse_format("float(e=4,m=3,special=inuz,overflow=nan)")).quantize(1e6).code == 0x80);
  // Flags: overflow to Inf is overflow and inexact; an infinite input is exact.
  const GoldenResult o = golden_quantize(parse_format("binary8p4se"), 1e6, {Rounding::rne, 32});
  CHECK(o.kind == ValueKind::infinite);
  CHECK(o.flags == (flag::overflow | flag::inexact));
  CHECK(golden_quantize(parse_format("binary8p4se"), HUGE_VAL, {Rounding::rne, 32}).flags == 0);
  // Facts and text.
  const Format p4se = parse_format("binary8p4se");
  const FloatFormat& x = p4se.as<FloatFormat>();
  CHECK(x.has_inf());
  CHECK(x.has_nan());
  CHECK(!x.has_negative_zero());
  CHECK(x.max_finite_index() == 0x7e);
  CHECK(x.inf_index() == 0x7f);
  CHECK(x.nan_code() == 0x80);
  const std::string d = describe_format(parse_format("binary8p4se"));
  CHECK_THAT(d, Catch::Contains("+Inf / -Inf         0x7f / 0xff"));
  CHECK_THAT(d, Catch::Contains("NaN                 0x80 (the only one)"));
  CHECK_THAT(d, Catch::Contains("largest finite      0x1.cp+7 (224)"));
  CHECK_THROWS_WITH(parse_format("float(e=1,m=0,special=inuz)"), Catch::Contains("no finite non-zero value") && Catch::Contains("Inf"));
  CHECK(parse_format("float(e=1,m=1,special=inuz)").as<FloatFormat>().max_finite_index() == 2);
}

TEST_CASE("arith in P3109 formats: no -0, the one NaN, infinities in the all-ones magnitudes", "[p3109][arith]") {
  auto run = [](Op op, const char* name, std::vector<std::uint64_t> codes, const char* options = "") {
    std::vector<BigInt> operands(codes.begin(), codes.end());
    return arith(op, parse_format(name), operands, parse_arith_options(options));
  };
  auto code = [](const ArithResult& r) { return static_cast<std::uint64_t>(r.code); };
  CHECK(code(run(Op::add, "binary8p4se", {0x7e, 0x7e})) == 0x7f);             // 224 + 224 overflows to +Inf
  CHECK(run(Op::add, "binary8p4se", {0x7e, 0x7e}).flags == (flag::overflow | flag::inexact));
  CHECK(code(run(Op::add, "binary8p4se", {0x7f, 0xff})) == 0x80);             // Inf - Inf: the NaN
  CHECK(run(Op::add, "binary8p4se", {0x7f, 0xff}).flags == flag::invalid);
  CHECK(code(run(Op::mul, "binary8p4se", {0xff, 0x38})) == 0xff);             // -Inf x 1
  CHECK(code(run(Op::div, "binary8p4se", {0x38, 0x00})) == 0x7f);             // 1 / 0
  CHECK(code(run(Op::sub, "binary8p4se", {0x38, 0x38})) == 0x00);             // 1 - 1 = +0
  CHECK(code(run(Op::sub, "binary8p4se", {0x38, 0x38}, "rounding=rdn")) == 0x00);  // +0 also rounding down
  CHECK(code(run(Op::mul, "binary8p4se", {0x81, 0x01})) == 0x00);             // tiny negative product: +0
  CHECK(code(run(Op::add, "binary8p4se", {0x80, 0x38}, "nan=x86")) == 0x80);
  CHECK(code(run(Op::sqrt, "binary8p4se", {0xb8}, "nan=x86")) == 0x80);      // sqrt(-1): the NaN, no sign to set
  CHECK(code(run(Op::lt, "binary8p4se", {0xff, 0xfe})) == 1);                 // -Inf < -224
  CHECK(code(run(Op::lt, "binary8p4se", {0x7e, 0x7f})) == 1);                 // 224 < +Inf
}

TEST_CASE("conversions of a NaN to a format with one NaN (fnuz, inuz) give that NaN under every convention", "[p3109][arith]") {
  // A NaN keeps its sign and payload where the destination can hold them; fnuz and inuz have one NaN,
  // 1 0...0. (Before, the x86 and Arm conventions gave the code 0x00, which is +0.)
  for (const char* to : {"fp8_e4m3fnuz", "binary8p4se", "binary8p3sf"})
    for (const char* nan : {"nan=canonical", "nan=x86", "nan=arm"})
      for (const std::uint64_t source : {0x7e00u, 0xfe00u, 0x7c01u, 0xfd00u}) {
        INFO(to << " " << nan << " " << source);
        const Format fp16 = parse_format("fp16"), dest = parse_format(to);
        const ArithResult golden = arith_golden(Op::convert, fp16, {BigInt(source)}, parse_arith_options(nan), 0, &dest);
        CHECK(static_cast<std::uint64_t>(golden.code) == 0x80);
        CHECK(golden.kind == ValueKind::nan);
        const FastArith fast(Op::convert, fp16, parse_arith_options(nan), &dest);
        const FastResult z = fast(source, 0, 0, 0);
        CHECK_FALSE(z.golden);
        CHECK(z.code == 0x80);
        CHECK(z.flags == golden.flags);
      }
}

TEST_CASE("P3109 unsigned names: K - P + 1 exponent bits, bias 2^(K-P), signed=no", "[parse][p3109][unsigned]") {
  CHECK(parse_format("binary8p4ue").to_string() == "float(e=5,m=3,special=inuz,signed=no)");
  CHECK(parse_format("binary8p4uf").to_string() == "float(e=5,m=3,special=fnuz,signed=no)");
  CHECK(parse_format("binary8p1uf").to_string() == "float(e=8,m=0,special=fnuz,signed=no)");
  CHECK(parse_format("binary8p8ue").to_string() == "float(e=1,m=7,special=inuz,signed=no)");
  CHECK(parse_format("binary8p3ue").as<FloatFormat>().bias == 32);
  CHECK(parse_format("binary10p2ue").as<FloatFormat>().bias == 256);
  CHECK(parse_format("binary8p4ue").width() == 8);
  CHECK(parse_format("binary8p4ue").alias() == "binary8p4ue");
  // The constructor form reads back to the same format.
  CHECK(parse_format(parse_format("binary12p5uf").to_string()) == parse_format("binary12p5uf"));
  CHECK_THROWS_WITH(parse_format("binary8p9ue"), Catch::Contains("1 <= P <= K") && Catch::Contains("unsigned"));
  CHECK_THROWS_WITH(parse_format("binary20p1uf"), Catch::Contains("20 exponent bits"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,signed=no)"), Catch::Contains("special=fnuz") && Catch::Contains("special=ieee"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fn,signed=no)"), Catch::Contains("key 'signed'"));
  CHECK_THROWS_WITH(parse_format("float(e=1,m=0,special=fnuz,signed=no)"), Catch::Contains("no finite non-zero value"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fnuz,signed=maybe)"), Catch::Contains("signed"));
  const FloatFormat u = parse_format("binary8p3ue").as<FloatFormat>();
  CHECK(u.max_finite_index() == 0xfd);
  CHECK(u.inf_index() == 0xfe);
  CHECK(u.nan_code() == 0xff);
  CHECK_FALSE(u.has_negative_zero());
  CHECK(parse_format("float(e=3,m=2,special=none,signed=no)").as<FloatFormat>().max_finite_index() == 0x1f);
  CHECK_FALSE(parse_format("binary8p3ue").has_arithmetic());
  CHECK(parse_format("binary8p3se").has_arithmetic());
}

TEST_CASE("P3109 unsigned formats: every code of widths 3 to 16 decodes as the interim report defines", "[p3109][unsigned]") {
  int formats = 0;
  for (int k = 3; k <= 16; ++k)
    for (int p = 1; p <= k; ++p)
      for (const bool extended : {true, false}) {
        const std::string name = fmt::format("binary{}p{}u{}", k, p, extended ? 'e' : 'f');
        INFO(name);
        if (k - p + 1 > 15) {  // binary16p1u*: 16 exponent bits, one more than bitsim's floats take
          CHECK_THROWS_WITH(parse_format(name), Catch::Contains("16 exponent bits"));
          continue;
        }
        const Format f = parse_format(name);
        ++formats;
        std::uint64_t wrong = 0;
        const std::uint64_t all_ones = (std::uint64_t{1} << k) - 1;
        if (k - p + 1 > 10) {
          // Beyond a double's exponent range (bias >= 1024): the exact values of every 61st code and the last two.
          auto check_code = [&](std::uint64_t c) {
            const GoldenResult g = golden_decode(f, BigInt(c));
            const std::optional<Rational> want = p3109_unsigned_exact(k, p, extended, c);
            wrong += want ? !(g.kind == ValueKind::finite && !g.negative && *g.exact == *want) : g.kind == ValueKind::finite;
          };
          for (std::uint64_t c = 0; c <= all_ones; c += 61) check_code(c);
          check_code(all_ones - 1);
          check_code(all_ones);
          CHECK(wrong == 0);
          continue;
        }
        const Quantizer q(f);
        for (std::uint64_t c = 0; c <= all_ones; ++c) {
          const double want = p3109_unsigned_value(k, p, extended, c);
          wrong += !same(q.decode(c), want);
          wrong += *q.quantize(want).code != c;  // every value encodes back to its code
        }
        CHECK(wrong == 0);
        if (k <= 8)
          for (std::uint64_t c = 0; c <= all_ones; ++c)
            wrong += !same(golden_decode(f, BigInt(c)).value, p3109_unsigned_value(k, p, extended, c));
        CHECK(wrong == 0);
      }
  CHECK(formats == 2 * (3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 - 1));
}

TEST_CASE("P3109 unsigned value tables: values as the working group's tables list them", "[p3109][unsigned][known]") {
  // Binary8p3ue: 0x00 0x0p+0, 0x01 0x0.8p-32 (subnormal), 0x02 0x0.1p-28, 0x04 0x1p-31, 0x80 0x1p+0,
  // 0xfd 0x1.4p+31, 0xfe Inf, 0xff NaN.
  CHECK(decode("binary8p3ue", 0x00) == 0.0);
  CHECK(decode("binary8p3ue", 0x01) == std::ldexp(1.0, -33));
  CHECK(decode("binary8p3ue", 0x02) == std::ldexp(1.0, -32));
  CHECK(decode("binary8p3ue", 0x04) == std::ldexp(1.0, -31));
  CHECK(decode("binary8p3ue", 0x80) == 1.0);
  CHECK(decode("binary8p3ue", 0xfd) == 0x1.4p+31);
  CHECK(decode("binary8p3ue", 0xfe) == HUGE_VAL);
  CHECK(std::isnan(decode("binary8p3ue", 0xff)));
  // Binary8p3uf: 0xfe 0x1.8p+31, 0xff NaN.
  CHECK(decode("binary8p3uf", 0xfe) == 0x1.8p+31);
  CHECK(std::isnan(decode("binary8p3uf", 0xff)));
  // Binary8p1uf: 0x01 0x1p-127, 0x80 0x1p+0, 0xfe 0x1p+126.
  CHECK(decode("binary8p1uf", 0x01) == std::ldexp(1.0, -127));
  CHECK(decode("binary8p1uf", 0x80) == 1.0);
  CHECK(decode("binary8p1uf", 0xfe) == std::ldexp(1.0, 126));
  // Binary8p4ue: 0xfd 0x1.ap+15.
  CHECK(decode("binary8p4ue", 0xfd) == 0x1.ap+15);
  // Binary8p8ue: 0x01 0x0.2p-4 (subnormal), 0x7f 0x0.fep+0, 0x80 0x1p+0, 0xfd 0x1.fap+0, 0xfe Inf.
  CHECK(decode("binary8p8ue", 0x01) == std::ldexp(1.0, -7));
  CHECK(decode("binary8p8ue", 0x7f) == 0x0.fep+0);
  CHECK(decode("binary8p8ue", 0x80) == 1.0);
  CHECK(decode("binary8p8ue", 0xfd) == 0x1.fap+0);
  CHECK(decode("binary8p8ue", 0xfe) == HUGE_VAL);
  // Binary10p2ue: 0x0001 0x0.1p-252 (subnormal), 0x0002 0x1p-255, 0x0200 0x1p+0, 0x03fd 0x1.8p+254.
  CHECK(decode("binary10p2ue", 0x0001) == std::ldexp(1.0, -256));
  CHECK(decode("binary10p2ue", 0x0002) == std::ldexp(1.0, -255));
  CHECK(decode("binary10p2ue", 0x0200) == 1.0);
  CHECK(decode("binary10p2ue", 0x03fd) == 0x1.8p+254);
}

TEST_CASE("rounding into an unsigned format: negative inputs give +0, every path agrees", "[p3109][unsigned][golden]") {
  const Format p3ue = parse_format("binary8p3ue");
  const Quantizer q(p3ue);
  // Negative inputs saturate to the smallest value, +0: invalid and inexact; -Inf invalid; -0 is +0.
  for (const double x : {-1.0, -1e-30, -1e30, -0x1.4p+31}) {
    const Quantized r = q.quantize(x);
    CHECK(*r.code == 0x00);
    CHECK(r.value == 0.0);
    CHECK_FALSE(std::signbit(r.value));
    CHECK(r.flags == (flag::invalid | flag::inexact));
  }
  CHECK(*q.quantize(-HUGE_VAL).code == 0x00);
  CHECK(q.quantize(-HUGE_VAL).flags == flag::invalid);
  CHECK(*q.quantize(-0.0).code == 0x00);
  CHECK(q.quantize(-0.0).flags == 0);
  CHECK(*q.quantize(HUGE_VAL).code == 0xfe);
  CHECK(*q.quantize(std::nan("")).code == 0xff);
  CHECK(*q.quantize(1.0).code == 0x80);
  CHECK(*q.quantize(0x1.4p+31).code == 0xfd);  // the largest finite
  CHECK(*q.quantize(0x1.7p+31).code == 0xfe);  // beyond the tie with 0x1.8p+31: overflow to +Inf
  CHECK(q.quantize(0x1.7p+31).flags == (flag::overflow | flag::inexact));
  CHECK(*Quantizer(parse_format("binary8p3uf")).quantize(1e30).code == 0xfe);  // finite: saturates
  CHECK(*Quantizer(p3ue, {Rounding::rdn, 32}).quantize(-1e-30).code == 0x00);
  CHECK(*Quantizer(p3ue, {Rounding::rup, 32}).quantize(1e-30).code == 0x01);

  // Fast scalar, fast arrays (float and double, every mode incl. sr) and the golden path agree on
  // adversarial inputs of both signs, for unsigned formats of each special kind.
  std::vector<std::string> failures;
  std::size_t checked = 0;
  for (const char* spec : {"binary8p3ue", "binary8p1uf", "binary8p8ue", "binary12p5uf", "float(e=3,m=2,special=none,signed=no,subnormals=no)",
                           "float(e=4,m=3,special=fnuz,signed=no,overflow=nan)", "float(e=5,m=2,special=inuz,signed=no,overflow=satpropagate)"})
    checked += bitsim::test::compare_all_paths(parse_format(spec), 77, failures);
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(checked > 10000);
  CHECK(failures.empty());
}

TEST_CASE("overflow=satpropagate (P3109 SatPropagate): overflow saturates, infinities stay", "[p3109][golden]") {
  const Format sp = parse_format("float(e=4,m=3,special=inuz,overflow=satpropagate)");
  CHECK(sp.to_string() == "float(e=4,m=3,special=inuz,overflow=satpropagate)");
  const Quantizer q(sp);
  CHECK(*q.quantize(1e6).code == 0x7e);
  CHECK(q.quantize(1e6).flags == (flag::overflow | flag::inexact));
  CHECK(*q.quantize(-1e6).code == 0xfe);
  CHECK(*q.quantize(HUGE_VAL).code == 0x7f);
  CHECK(q.quantize(HUGE_VAL).flags == 0);
  CHECK(*q.quantize(-HUGE_VAL).code == 0xff);
  // IEEE specials too; and the same on the golden path, and on arrays.
  const Format e5 = parse_format("float(e=5,m=2,overflow=satpropagate)");
  CHECK(*Quantizer(e5).quantize(1e6).code == 0x7b);
  CHECK(*Quantizer(e5).quantize(HUGE_VAL).code == 0x7c);
  CHECK(*golden_quantize(e5, 1e6, {}).code == 0x7b);
  CHECK(*golden_quantize(e5, -HUGE_VAL, {}).code == 0xfc);
  const std::vector<double> in = {1e6, -1e6, HUGE_VAL, -HUGE_VAL, 3.0, 1e-9, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, -HUGE_VAL};
  std::vector<double> out(in.size());
  Quantizer(e5).quantize(std::span<const double>(in), std::span<double>(out));
  for (std::size_t i = 0; i < in.size(); ++i) CHECK(bitsim::test::same_double(out[i], golden_quantize(e5, in[i], {}).value));
  // Arithmetic: an infinite result stays infinite, an overflowing one saturates.
  auto run = [&](Op op, std::vector<std::uint64_t> codes) {
    std::vector<BigInt> operands(codes.begin(), codes.end());
    return arith(op, sp, operands, parse_arith_options(""));
  };
  CHECK(static_cast<std::uint64_t>(run(Op::add, {0x7e, 0x7e}).code) == 0x7e);  // 224 + 224
  CHECK(run(Op::add, {0x7e, 0x7e}).flags == (flag::overflow | flag::inexact));
  CHECK(static_cast<std::uint64_t>(run(Op::add, {0x7f, 0x38}).code) == 0x7f);  // Inf + 1
  CHECK(static_cast<std::uint64_t>(run(Op::div, {0x38, 0x00}).code) == 0x7f);  // 1 / 0
  CHECK(run(Op::div, {0x38, 0x00}).flags == flag::divide_by_zero);
  for (const std::uint64_t a : {0x7eu, 0x7fu, 0x38u, 0xffu})
    for (const std::uint64_t b : {0x7eu, 0x00u, 0x38u, 0x7fu})
      for (const Op op : {Op::add, Op::mul, Op::div}) {
        const std::vector<BigInt> ops = {BigInt(a), BigInt(b)};
        const ArithResult golden = arith_golden(op, sp, ops, parse_arith_options(""));
        const FastResult fast = FastArith(op, sp, parse_arith_options("")).complete(a, b);
        CHECK(fast.code == static_cast<std::uint64_t>(golden.code));
        CHECK(fast.flags == golden.flags);
      }
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fnuz,overflow=satpropagate)"),
                    Catch::Contains("no infinity") && Catch::Contains("overflow=saturate"));
}

TEST_CASE("unsigned floats are storage formats: arithmetic and gemm refuse them by name", "[p3109][unsigned][arith]") {
  const std::vector<BigInt> ops = {BigInt(0x80), BigInt(0x80)};
  CHECK_THROWS_WITH(arith(Op::add, parse_format("binary8p3ue"), ops, parse_arith_options("")),
                    Catch::Contains("binary8p3ue") && Catch::Contains("unsigned"));
  CHECK_FALSE(FastArith::supports(Op::add, parse_format("binary8p3ue"), parse_arith_options("")));
  const std::string d = describe_format(parse_format("binary8p3ue"));
  CHECK_THAT(d, Catch::Contains("unsigned: negative inputs give +0"));
  CHECK_THAT(d, Catch::Contains("width               8 bits (6 exponent, 2 fraction)"));
  CHECK_THAT(d, Catch::Contains("+Inf                0xfe"));
  CHECK_THAT(d, Catch::Contains("NaN                 0xff (the only one)"));
  CHECK_THAT(d, Catch::Contains("0x80  0x1p+0"));
}
