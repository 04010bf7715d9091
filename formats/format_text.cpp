#include "formats/format_text.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace bitsim::formats {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string hex_digits(BigInt v, int digits, bool upper) {
  const char* table = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out(static_cast<std::size_t>(digits), '0');
  if (v >= 0 && v <= BigInt(~std::uint64_t(0))) {  // the common case (codes up to 64 bits), without BigInt steps
    std::uint64_t u = static_cast<std::uint64_t>(v);
    for (int i = digits - 1; i >= 0 && u != 0; --i) {
      out[static_cast<std::size_t>(i)] = table[u & 15];
      u >>= 4;
    }
    return out;
  }
  for (int i = digits - 1; i >= 0 && v != 0; --i) {
    out[static_cast<std::size_t>(i)] = table[static_cast<int>(v & 15)];
    v >>= 4;
  }
  return out;
}

}  // namespace

std::optional<double> parse_number(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return std::nullopt;
  std::string_view body = s;
  bool negative = false;
  if (body.front() == '+' || body.front() == '-') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (iequals(body, "nan")) return negative ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
  if (iequals(body, "inf") || iequals(body, "infinity"))
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  // Only digits, '.', exponent markers, hex prefix and signs may reach strtod (no nan(...), no spaces).
  for (char c : body)
    if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'x' || c == 'X' || c == 'p' || c == 'P' ||
          c == '+' || c == '-'))
      return std::nullopt;
  if (body.empty() || body.front() == '+' || body.front() == '-') return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;  // ERANGE is fine: strtod already gives the nearest double (inf or a rounded subnormal/0)
}

namespace {

// The magnitude of an unsigned C99 hex float "0x1.8p-3" (the "0x" already checked), exactly.
std::optional<Rational> parse_exact_hex(std::string_view s) {
  s.remove_prefix(2);
  std::string_view exponent_text;
  bool has_exponent = false;
  if (const auto p = s.find_first_of("pP"); p != std::string_view::npos) {
    exponent_text = s.substr(p + 1);
    s = s.substr(0, p);
    has_exponent = true;
  }
  BigInt mantissa = 0;
  std::int64_t fraction_digits = 0, digits = 0;
  bool seen_point = false;
  for (const char c : s) {
    if (c == '.' && !seen_point) {
      seen_point = true;
      continue;
    }
    const int v = hex_digit_value(c);
    if (v < 0) return std::nullopt;
    mantissa = mantissa * 16 + v;
    ++digits;
    if (seen_point) ++fraction_digits;
  }
  if (digits == 0) return std::nullopt;
  std::int64_t exp2 = 0;
  if (has_exponent) {
    bool negative = false;
    if (!exponent_text.empty() && (exponent_text[0] == '+' || exponent_text[0] == '-')) {
      negative = exponent_text[0] == '-';
      exponent_text.remove_prefix(1);
    }
    if (exponent_text.empty() || exponent_text.size() > 6) return std::nullopt;
    for (const char c : exponent_text) {
      if (c < '0' || c > '9') return std::nullopt;
      exp2 = exp2 * 10 + (c - '0');
    }
    if (negative) exp2 = -exp2;
  }
  return Rational(mantissa) * pow2(exp2 - 4 * fraction_digits);
}

}  // namespace

std::optional<ExactInput> parse_exact_number(std::string_view text) {
  std::string_view s = trim(text);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  ExactInput x;
  x.negative = negative;
  if (iequals(s, "nan")) {
    x.kind = ValueKind::nan;
    x.negative = false;
    return x;
  }
  if (iequals(s, "inf") || iequals(s, "infinity")) {
    x.kind = ValueKind::infinite;
    return x;
  }
  if (s.front() == '+' || s.front() == '-') return std::nullopt;  // a second sign
  if (s.size() > kMaxExactNumberChars) return std::nullopt;
  std::optional<Rational> magnitude;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    magnitude = parse_exact_hex(s);
  } else {
    if (const auto e = s.find_first_of("eE"); e != std::string_view::npos) {
      std::string_view exponent = s.substr(e + 1);
      if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) exponent.remove_prefix(1);
      if (exponent.size() > 4) return std::nullopt;  // 10^+-9999 at most
    }
    magnitude = parse_exact_decimal(s);
  }
  if (!magnitude) return std::nullopt;
  x.magnitude = *magnitude;
  return x;
}

std::string format_hex_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

std::string format_code(const BigInt& code, int width) { return "0x" + hex_digits(code, (width + 3) / 4, false); }
std::string format_code(std::uint64_t code, int width) { return format_code(BigInt(code), width); }
std::string format_hex_upper(const BigInt& value, int digits) { return hex_digits(value, digits, true); }

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace bitsim::formats
