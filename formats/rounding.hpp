// Rounding modes and exception flags of docs/spec/formats.md section 2 and 3.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace bitsim::formats {

// rne: nearest, ties to the even magnitude index; rna: nearest, ties away from zero; rtz: toward zero;
// rup: toward +Inf; rdn: toward -Inf; sr: stochastic with R random bits (see StochasticConfig).
enum class Rounding { rne, rna, rtz, rup, rdn, sr };
inline constexpr Rounding kAllRoundings[] = {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr};

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
// An error of one element of an array (at_element) has site().element set and what() = "element I:
// CAUSE", so a caller that passed part of a larger array can re-index it (shifted) without parsing text.
class QuantizeError : public bitsim::Error {
 public:
  using Error::Error;
  static QuantizeError at_element(std::int64_t index, std::string cause) {
    QuantizeError e("element " + std::to_string(index) + ": " + cause, ErrorSite::at_element(index));
    e.cause_ = std::move(cause);
    return e;
  }
  // The text after "element I: " (the whole message for an error not tied to an element).
  std::string cause() const { return cause_.empty() ? std::string(what()) : cause_; }
  // The same error for an array whose element 0 is element `offset` of a larger one.
  QuantizeError shifted(std::int64_t offset) const {
    return site().element ? at_element(*site().element + offset, cause_) : *this;
  }

 private:
  std::string cause_;
};

}  // namespace bitsim::formats
