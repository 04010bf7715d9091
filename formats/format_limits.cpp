#include "formats/format_limits.hpp"

#include "formats/quantizer.hpp"

#include <cmath>
#include <limits>

namespace bitsim::formats {

FiniteLimits finite_limits(const Format& f) {
  FiniteLimits l;
  const int w = f.width();
  l.codes = w < 64 ? std::uint64_t{1} << w : 0;
  const Quantizer q(f);
  if (f.is<FloatFormat>()) {
    l.max_finite = q.decode(f.as<FloatFormat>().max_finite_index());
    // Sign-magnitude, or unsigned: code 0 (+0, or the smallest value of a format without zero).
    l.min_finite = f.as<FloatFormat>().is_signed ? -l.max_finite : q.decode(0);
  } else if (f.is<FixedFormat>()) {
    const auto& x = f.as<FixedFormat>();
    if (x.is_signed) {  // two's complement: codes -2^(w-1) .. 2^(w-1) - 1
      l.max_finite = q.decode((std::uint64_t{1} << (w - 1)) - 1);
      l.min_finite = q.decode(std::uint64_t{1} << (w - 1));
    } else {
      l.max_finite = q.decode(w < 64 ? (std::uint64_t{1} << w) - 1 : ~std::uint64_t{0});
      l.min_finite = 0;
    }
  } else {  // Graham formats: at most a few thousand codes, each decoded
    double hi = -std::numeric_limits<double>::infinity(), lo = std::numeric_limits<double>::infinity();
    for (std::uint64_t c = 0; c < l.codes; ++c) {
      try {
        const double v = q.decode(c);
        if (std::isfinite(v)) {
          hi = std::max(hi, v);
          lo = std::min(lo, v);
        }
      } catch (const std::exception&) {  // a code the format does not use
      }
    }
    l.max_finite = hi;
    l.min_finite = lo;
  }
  return l;
}

}  // namespace bitsim::formats
