// Exact numbers used by the format descriptors and the golden path.
//
// Format arguments such as `scale=1.36` are taken as the exact rational they spell (34/25), never as
// the nearest double. Every comparison that decides a rounding is done on these exact values.
#pragma once

#include <boost/multiprecision/cpp_int.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitsim::formats {

// Expression templates off: values behave like plain numbers (safe with auto and ?:).
using BigInt = boost::multiprecision::number<boost::multiprecision::cpp_int_backend<>, boost::multiprecision::et_off>;
using Rational = boost::multiprecision::number<boost::multiprecision::rational_adaptor<boost::multiprecision::cpp_int_backend<>>,
                                               boost::multiprecision::et_off>;

// Parses `[+-]digits[.digits][e[+-]digits]` (also `.5` and `5.`) into an exact rational.
// Returns nullopt for anything else (hex, fractions, nan/inf, empty strings, stray characters).
std::optional<Rational> parse_exact_decimal(std::string_view text);

// Parses an integer with an optional sign into int64; nullopt when malformed or out of range.
std::optional<std::int64_t> parse_int64(std::string_view text);

// Shortest decimal text of a rational whose denominator has only the prime factors 2 and 5
// (every value parse_exact_decimal can produce), e.g. 34/25 -> "1.36", 1/2 -> "0.5", 3 -> "3".
std::string exact_decimal_to_string(const Rational& value);

// The exact rational value of a finite double.
Rational rational_from_double(double x);

// The double nearest to a non-negative rational, ties to even; +inf beyond the double range.
// Subnormal results are rounded once, on the subnormal grid (no double rounding).
double nearest_double(const Rational& magnitude);

// floor(log2(r)) for r > 0, exactly.
std::int64_t floor_log2(const Rational& r);

// 2^k as an exact rational (k may be negative).
Rational pow2(std::int64_t k);

}  // namespace bitsim::formats
