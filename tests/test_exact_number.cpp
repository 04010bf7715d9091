// Exact decimal parsing and the rational -> nearest double conversion.
#include "formats/exact_number.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

using namespace bitsim::formats;

TEST_CASE("decimal arguments are the exact rationals they spell", "[exact]") {
  CHECK(*parse_exact_decimal("1.36") == Rational(34, 25));
  CHECK(*parse_exact_decimal(".5") == Rational(1, 2));
  CHECK(*parse_exact_decimal("5.") == Rational(5));
  CHECK(*parse_exact_decimal("-1.25e-2") == Rational(-1, 80));
  CHECK(*parse_exact_decimal("+12E+3") == Rational(12000));
  for (const char* bad : {"", ".", "1/2", "0x10", "nan", "inf", "1e", "1.2.3", "e5", "--1", "1 2"})
    CHECK_FALSE(parse_exact_decimal(bad).has_value());
  CHECK(exact_decimal_to_string(Rational(34, 25)) == "1.36");
  CHECK(exact_decimal_to_string(Rational(-1, 80)) == "-0.0125");
  CHECK(exact_decimal_to_string(Rational(12000)) == "12000");
}

TEST_CASE("nearest_double rounds once, ties to even, subnormals included", "[exact]") {
  CHECK(nearest_double(Rational(1, 3)) == 1.0 / 3.0);
  CHECK(nearest_double(Rational(1, 10)) == 0.1);
  // Tie between 1 and 1 + 2^-52: even is 1.
  CHECK(nearest_double(Rational(1) + pow2(-53)) == 1.0);
  CHECK(nearest_double(Rational(1) + 3 * pow2(-53)) == 1.0 + std::ldexp(1.0, -51));
  // Subnormal grid: half of the smallest subnormal ties to 0; just above goes up.
  CHECK(nearest_double(pow2(-1075)) == 0.0);
  CHECK(nearest_double(pow2(-1075) + pow2(-1200)) == std::numeric_limits<double>::denorm_min());
  CHECK(nearest_double(3 * pow2(-1075)) == 2 * std::numeric_limits<double>::denorm_min());
  // Overflow: at and beyond the midpoint to 2^1024 is inf.
  CHECK(nearest_double(pow2(1024) - pow2(970)) == HUGE_VAL);
  CHECK(nearest_double(pow2(1024) - pow2(970) - 1) == std::numeric_limits<double>::max());
  // Random round trips: the exact value of a double converts back to itself.
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t bits = rng() & 0x7FEFFFFFFFFFFFFFull;
    double d;
    std::memcpy(&d, &bits, 8);
    REQUIRE(nearest_double(rational_from_double(d)) == d);
  }
}

TEST_CASE("quantize's number syntax", "[text]") {
  CHECK(*parse_number(" 1.5 ") == 1.5);
  CHECK(*parse_number("0x1.8p+1") == 3.0);
  CHECK(*parse_number("-0X1P-2") == -0.25);
  CHECK(std::isnan(*parse_number("NaN")));
  CHECK(*parse_number("-Infinity") == -HUGE_VAL);
  CHECK(*parse_number("inf") == HUGE_VAL);
  CHECK(*parse_number("1e400") == HUGE_VAL);
  CHECK(*parse_number("1e-400") == 0.0);
  for (const char* bad : {"", "abc", "1e", "1 2", "nan(1)", "0x", "--1", "1,5", "inff"}) CHECK_FALSE(parse_number(bad).has_value());
  CHECK(format_hex_value(448.0) == "0x1.cp+8");
  CHECK(format_hex_value(-0.0) == "-0x0p+0");
  CHECK(format_hex_value(-HUGE_VAL) == "-inf");
  CHECK(format_code(std::uint64_t{0x7e}, 8) == "0x7e");
  CHECK(format_code(std::uint64_t{5}, 6) == "0x05");
  CHECK(format_code(std::uint64_t{1}, 1) == "0x1");
}

// --exact-input: every text parse_number reads, taken exactly. A double's own text (%a, or %.17g when
// that is exact) gives the double's value; longer decimals give their own rational, which rounds once
// where the double would round twice.
TEST_CASE("exact numbers: the value the text spells, rounded once by the golden path", "[exact][text]") {
  auto exact = [](const char* t) { return parse_exact_number(t); };
  CHECK(exact("1.36")->magnitude == Rational(34, 25));
  CHECK(exact(" -0x1.8p-3 ")->signed_value() == Rational(-3, 16));
  CHECK(exact("0X.8P1")->magnitude == Rational(1));
  CHECK(exact("0x10")->magnitude == Rational(16));
  CHECK(exact("9223372036854775807")->magnitude == Rational(BigInt("9223372036854775807")));
  CHECK(exact("-0")->negative);
  CHECK(exact("-0")->is_zero());
  CHECK(exact("NaN")->is_nan());
  CHECK(exact("-Infinity")->is_inf());
  CHECK(exact("1e-9999")->magnitude * Rational(boost::multiprecision::pow(BigInt(10), 9999)) == 1);
  CHECK_FALSE(parse_exact_number(std::string(kMaxExactNumberChars + 1, '1')).has_value());
  CHECK(parse_exact_number(std::string(kMaxExactNumberChars, '1')).has_value());
  CHECK(exact("-inf")->negative);
  for (const char* bad : {"", "-", "0x", "0xp3", "0x1p", "0x1.8p+1234567", "1e12345", "1/3", "--1", "+-1", "nan(1)", "0x1g", "1 2"})
    CHECK_FALSE(parse_exact_number(bad).has_value());

  // Random doubles: exact text of the double gives the double exactly, and the same rounding.
  std::mt19937_64 rng(5);
  const Format fp16 = parse_format("fp16"), e4m3 = parse_format("fp8_e4m3");
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof x);
    if (!std::isfinite(x)) continue;
    int exponent = 0;
    x = std::ldexp(std::frexp(x, &exponent), static_cast<int>(rng() % 80) - 40);
    char text[64];
    std::snprintf(text, sizeof text, "%a", x);
    const auto e = parse_exact_number(text);
    REQUIRE(e.has_value());
    CHECK(e->signed_value() == rational_from_double(x));
    for (const Format* f : {&fp16, &e4m3}) {
      const GoldenResult g1 = golden_quantize(*f, x, {Rounding::rne, 32}), g2 = golden_quantize_exact(*f, *e, {Rounding::rne, 32});
      CHECK(g1.code == g2.code);
      CHECK(g1.flags == g2.flags);
    }
  }
  // A tie of fp16 plus 10^-23: the nearest double is the tie itself (rne: down to even), the exact
  // value is above it (rne: up), and inexact in both.
  const GoldenResult via_double = golden_quantize(fp16, *parse_number("1.00048828125000000000001"), {Rounding::rne, 32});
  const GoldenResult exact_one = golden_quantize_exact(fp16, *exact("1.00048828125000000000001"), {Rounding::rne, 32});
  CHECK(*via_double.code == 0x3c00);
  CHECK(*exact_one.code == 0x3c01);
  // 2^63 - 1 is a value of fixed(i=63,f=0); its nearest double, 2^63, overflows it.
  const Format int64 = parse_format("fixed(i=63,f=0)");
  CHECK(golden_quantize(int64, *parse_number("9223372036854775807"), {}).flags == (flag::overflow | flag::inexact));
  const GoldenResult i64 = golden_quantize_exact(int64, *exact("9223372036854775807"), {});
  CHECK(i64.flags == 0);
  CHECK(*i64.code == BigInt("9223372036854775807"));
  // Wider than a double: 1 + 2^-100 is a value of float(e=15,m=112), and its text says so exactly.
  const Format fp128 = parse_format("float(e=15,m=112)");
  const GoldenResult w = golden_quantize_exact(fp128, *exact("0x1.0000000000000000000000001p0"), {});
  CHECK(w.flags == 0);
  CHECK(*w.exact == Rational(1) + pow2(-100));
}
