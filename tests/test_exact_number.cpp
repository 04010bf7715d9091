// Exact decimal parsing and the rational -> nearest double conversion.
#include "formats/exact_number.hpp"
#include "formats/format_text.hpp"

#include <catch2/catch.hpp>

#include <cmath>
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
