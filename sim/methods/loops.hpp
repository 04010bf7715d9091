// Which loops run a paper quantizer's elements (WAGEUBN's, Banner et al.'s min/max): the vector loops,
// compiled once per SIMD target and chosen at run time, or the plain scalar loops they are checked
// against bit for bit (the tests run both on every target). Both give the same bits; only the speed
// differs, so everything but those tests uses the default.
#pragma once

namespace bitsim::sim::methods {

enum class Loops { vector, scalar };

}  // namespace bitsim::sim::methods
