// Rounding modes and exception flags of docs/spec/formats.md section 2 and 3.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace bitsim::formats {

// rne: nearest, ties to the even magnitude index; rna: nearest, ties away from zero; rtz: toward zero;
// rup: toward +Inf; rdn: toward -Inf; sr: stochastic with R random bits (see StochasticConfig).
enum class Rounding { rne, rna, rtz, rup, rdn, sr };

std::optional<Rounding> parse_rounding(std::string_view name);
const char* rounding_name(Rounding r);

// Berkeley TestFloat's flag bits.
namespace flag {
inline constexpr std::uint8_t invalid = 0x10;
inline constexpr std::uint8_t overflow = 0x04;
inline constexpr std::uint8_t underflow = 0x02;
inline constexpr std::uint8_t inexact = 0x01;
}  // namespace flag

// A rounding request: the mode and, for sr, the number R of random bits used from each 32-bit word
// (r = word >> (32 - R), 1 <= R <= 32).
struct RoundingSpec {
  Rounding mode = Rounding::rne;
  int sr_bits = 32;
  bool operator==(const RoundingSpec&) const = default;
};

// A value the format cannot take (NaN into a format without NaN, Inf into a wrapping fixed format).
class QuantizeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bitsim::formats
