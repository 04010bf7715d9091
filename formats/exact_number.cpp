#include "formats/exact_number.hpp"

#include <bit>
#include <cctype>
#include <cmath>
#include <limits>

namespace bitsim::formats {

namespace {

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

BigInt digits_value(std::string_view s) {
  BigInt v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

BigInt big_pow(BigInt base, std::uint64_t exp) {
  BigInt r = 1;
  while (exp) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

// Index of the most significant set bit of a positive integer.
std::int64_t msb_index(const BigInt& v) { return static_cast<std::int64_t>(boost::multiprecision::msb(v)); }

}  // namespace

std::optional<Rational> parse_exact_decimal(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string_view exponent_text;
  if (auto epos = s.find_first_of("eE"); epos != std::string_view::npos) {
    exponent_text = s.substr(epos + 1);
    s = s.substr(0, epos);
    if (exponent_text.empty()) return std::nullopt;
  }
  std::string_view int_part = s, frac_part;
  if (auto dot = s.find('.'); dot != std::string_view::npos) {
    int_part = s.substr(0, dot);
    frac_part = s.substr(dot + 1);
  }
  if (int_part.empty() && frac_part.empty()) return std::nullopt;
  if (!all_digits(int_part) || !all_digits(frac_part)) return std::nullopt;
  std::int64_t exp10 = 0;
  if (!exponent_text.empty()) {
    bool eneg = false;
    if (exponent_text[0] == '+' || exponent_text[0] == '-') {
      eneg = exponent_text[0] == '-';
      exponent_text.remove_prefix(1);
    }
    if (exponent_text.empty() || !all_digits(exponent_text) || exponent_text.size() > 6) return std::nullopt;
    exp10 = std::stoll(std::string(exponent_text));
    if (eneg) exp10 = -exp10;
  }
  BigInt mantissa = digits_value(std::string(int_part) + std::string(frac_part));
  exp10 -= static_cast<std::int64_t>(frac_part.size());
  Rational r = exp10 >= 0 ? Rational(mantissa * big_pow(10, static_cast<std::uint64_t>(exp10)))
                          : Rational(mantissa, big_pow(10, static_cast<std::uint64_t>(-exp10)));
  return negative ? Rational(-r) : r;
}

std::optional<std::int64_t> parse_int64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !all_digits(s) || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return negative ? -v : v;
}

std::string exact_decimal_to_string(const Rational& value) {
  BigInt num = boost::multiprecision::numerator(value);
  BigInt den = boost::multiprecision::denominator(value);
  bool negative = num < 0;
  if (negative) num = -num;
  // Scale by 10^k until the denominator divides: the smallest k gives the shortest text.
  unsigned k = 0;
  while (den != 1) {
    BigInt g = boost::multiprecision::gcd(BigInt(10), den);
    if (g == 1) break;  // not a decimal rational; should not happen for parsed values
    num *= 10 / g;
    den /= g;
    ++k;
  }
  std::string digits = num.str();
  if (den != 1) digits = value.str();  // fall back to a/b
  else if (k > 0) {
    if (digits.size() <= k) digits.insert(0, k - digits.size() + 1, '0');
    digits.insert(digits.size() - k, ".");
  }
  return negative ? "-" + digits : digits;
}

Rational rational_from_double(double x) {
  if (x == 0) return Rational(0);
  int exp = 0;
  double frac = std::frexp(std::fabs(x), &exp);  // |x| = frac * 2^exp, frac in [0.5, 1)
  auto mant = static_cast<std::uint64_t>(std::ldexp(frac, 53));
  Rational r = Rational(BigInt(mant)) * pow2(exp - 53);
  return x < 0 ? Rational(-r) : r;
}

std::int64_t floor_log2(const Rational& r) {
  const BigInt& n = boost::multiprecision::numerator(r);
  const BigInt& d = boost::multiprecision::denominator(r);
  std::int64_t guess = msb_index(n) - msb_index(d);  // floor(log2 r) is guess or guess - 1
  return r >= pow2(guess) ? guess : guess - 1;
}

Rational pow2(std::int64_t k) {
  if (k >= 0) return Rational(BigInt(1) << static_cast<unsigned>(k));
  return Rational(BigInt(1), BigInt(1) << static_cast<unsigned>(-k));
}

double nearest_double(const Rational& magnitude) {
  if (magnitude == 0) return 0.0;
  // Grid of doubles around r: exponent e = max(floor(log2 r), -1022); quantum 2^(e-52).
  std::int64_t e = std::max<std::int64_t>(floor_log2(magnitude), -1022);
  if (e > 1023) return std::numeric_limits<double>::infinity();
  Rational scaled = magnitude / pow2(e - 52);
  BigInt lower = boost::multiprecision::numerator(scaled) / boost::multiprecision::denominator(scaled);
  Rational rest = scaled - Rational(lower);
  bool up = rest > Rational(1, 2) || (rest == Rational(1, 2) && (lower & 1) != 0);
  if (up) lower += 1;
  // lower <= 2^53; the product below is exact in double (or overflows to inf above the largest double).
  double mant = static_cast<double>(static_cast<std::uint64_t>(lower));
  return std::ldexp(mant, static_cast<int>(e - 52));
}

}  // namespace bitsim::formats
