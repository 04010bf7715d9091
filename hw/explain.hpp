// Why a device's vector differs from bitsim's (`bitsim check`): which bits and flags differ, the
// distance in ulps, and which other rounding mode or hardware option would have produced the device's
// result.
#pragma once

#include "hw/vectors.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bitsim::hw {

// Names of the flag bits set in `flags`, e.g. "underflow+inexact" ("none" for 0).
std::string flag_names(std::uint8_t flags);

// Options that differ from `base` in exactly one respect (another rounding mode, the other tininess,
// another NaN convention, DAZ or FTZ toggled, and for a conversion to a fixed-point format notexact
// toggled), each with its text (arith_options_to_string style, naming only what changed). sr is never
// an alternative.
struct Alternative {
  formats::ArithOptions options;
  std::string change;  // e.g. "rounding=rtz", "tininess=before", "daz"
};
std::vector<Alternative> single_alternatives(const formats::ArithOptions& base, bool conversion_to_fixed = false);

struct Explanation {
  Vector expected;
  formats::BigInt differing_bits;         // device result XOR expected result
  std::optional<formats::BigInt> ulps;    // |distance| in ulps (results of a value format; not NaN)
  int direction = 0;                      // +1 device above bitsim, -1 below, 0 equal or unordered
  std::uint8_t extra_flags = 0;           // raised by the device, not by bitsim
  std::uint8_t missing_flags = 0;         // raised by bitsim, not by the device
  std::vector<std::string> full_matches;    // alternatives giving the device's result and flags
  std::vector<std::string> result_matches;  // alternatives giving its result (not its flags); empty when
                                            // the result already equals bitsim's
};

// Compares the device's vector with bitsim's under `setup` (`word`: the vector's sr word).
// full_matches / result_matches list single alternatives, then (when none matched fully) pairs.
Explanation explain_vector(const VectorSetup& setup, const Vector& device, std::uint32_t word);

// Text of an explanation, several lines indented by two spaces (no trailing newline).
std::string describe(const VectorSetup& setup, const Vector& device, const Explanation& e);

}  // namespace bitsim::hw
