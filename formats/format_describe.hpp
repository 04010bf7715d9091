// A format's facts as text: kind, width, bias, subnormals, specials, overflow, smallest subnormal and
// normal, largest finite, epsilon, the Inf and NaN codes, and for formats up to 8 bits every code with
// its value (what `bitsim formats describe` prints; formats.md section 4).
#pragma once

#include "formats/format.hpp"

#include <string>

namespace bitsim::formats {

std::string describe_format(const Format& format);

}  // namespace bitsim::formats
