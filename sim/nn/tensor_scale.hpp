// The power-of-two scale a quantizer chose for a whole tensor, reported with each rounding event
// (layer.hpp) and written by the statistics as the site's scale exponent. Quantizers that scale
// tensors by 2^n (WAGEUBN's shift, flag and constant) set it; every other rounding leaves it unscaled.
#pragma once

namespace bitsim::sim::nn {

struct PowerOfTwoScale {
  bool scaled = false;  // false: no tensor scale (an element-wise format, or an all-zero tensor)
  int exponent = 0;     // n of the scale 2^n, when scaled
};

}  // namespace bitsim::sim::nn
