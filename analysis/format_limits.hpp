// What the statistics need to know of a number format: its largest finite magnitude (for the
// saturation count) and its number of codes (for utilization).
#pragma once

#include "analysis/tensor_stats.hpp"
#include "formats/format.hpp"

namespace bitsim::analysis {

// max_finite / min_finite: the largest and the most negative finite value, exact (decoded from their
// codes); codes: 2^width (0 when the
// width is 64 or more). Float and fixed formats read it from their fields; Graham formats by decoding
// every code.
RoundingLimits limits_of(const formats::Format& f);

}  // namespace bitsim::analysis
