// Text forms shared by the command line and test benches (formats.md section 3): numbers read as
// strtod does, values printed as C99 hex floats, codes as fixed-width hex.
#pragma once

#include "formats/exact_number.hpp"
#include "formats/golden.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitsim::formats {

// A number as `bitsim quantize` reads it: surrounding spaces ignored; decimal or C99 hex float, or
// nan / inf / infinity with an optional sign (case-insensitive); the nearest double as strtod gives
// (so 1e400 is inf). nullopt for anything else, including an empty string.
std::optional<double> parse_number(std::string_view text);

// A number taken as the exact value its text spells (`--exact-input`): the forms parse_number reads
// (surrounding spaces ignored; decimal with any number of digits, or C99 hex float; nan, inf, infinity
// with an optional sign, case-insensitive), each the exact rational it denotes, not a double; -0 keeps
// its sign. Limits keep the exact rounding fast (its cost grows with the square of the digits): at most
// kMaxExactNumberChars characters, a decimal exponent of at most 4 digits (10^+-9999, beyond the range
// of every IEEE format), a hex exponent of at most 6 (2^+-999999). nullopt for anything else.
inline constexpr std::size_t kMaxExactNumberChars = 10000;
std::optional<ExactInput> parse_exact_number(std::string_view text);

// A value as C99 "%a", or "nan", "inf", "-inf".
std::string format_hex_value(double v);

// A code as "0x" followed by ceil(width/4) lower-case hex digits.
std::string format_code(const BigInt& code, int width);
std::string format_code(std::uint64_t code, int width);

// A CSV field (RFC 4180): unchanged unless it holds a comma, quote, CR or newline; then quoted, with
// quotes doubled. Every CSV bitsim writes (statistics, sweep tables, hazards) quotes with it.
std::string csv_field(std::string_view s);

// The value of a hex digit (either case), or -1. Inline: the vector parsers call it per character.
constexpr int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Upper-case hex digits without 0x, zero-padded to `digits` (TestFloat's line format).
std::string format_hex_upper(const BigInt& value, int digits);

}  // namespace bitsim::formats
