// The finite range of a number format: its largest and most negative finite values, exact, and its
// number of codes. The statistics count saturation against them (analysis/tensor_stats.hpp), and
// training's hazard checks (sim/train/hazards.hpp) too.
#pragma once

#include "formats/format.hpp"

#include <cstdint>
#include <limits>

namespace bitsim::formats {

struct FiniteLimits {
  double max_finite = std::numeric_limits<double>::infinity();   // largest finite value (inf: unknown)
  double min_finite = -std::numeric_limits<double>::infinity();  // most negative finite value (-inf: unknown)
  std::uint64_t codes = 0;  // number of codes of the format (2^width); 0: unknown or 2^64 and more
};

// max_finite / min_finite decoded from their codes; codes = 2^width (0 when the width is 64 or more).
// Float and fixed formats read them from their fields; Graham formats by decoding every code.
FiniteLimits finite_limits(const Format& f);

}  // namespace bitsim::formats
