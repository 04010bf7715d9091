// PhiloxWords::fill's bulk loop, compiled once per SIMD target by Highway's foreach_target (this file
// includes itself once per target) and dispatched at run time; see philox_block.hpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "formats/philox_fill.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "formats/philox_block.hpp"
#include "formats/simd_target.hpp"

HWY_BEFORE_NAMESPACE();
namespace bitsim::formats::detail::HWY_NAMESPACE {

void PhiloxBlocks(std::uint64_t counter0, std::uint32_t k0, std::uint32_t k1, std::uint32_t* dst, std::size_t blocks) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const PhiloxBlock blk = philox_block(counter0 + b, k0, k1);
    dst[4 * b + 0] = blk.w[0];
    dst[4 * b + 1] = blk.w[1];
    dst[4 * b + 2] = blk.w[2];
    dst[4 * b + 3] = blk.w[3];
  }
}

}  // namespace bitsim::formats::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace bitsim::formats::detail {

HWY_EXPORT(PhiloxBlocks);

void philox_blocks(std::uint64_t counter0, std::uint32_t k0, std::uint32_t k1, std::uint32_t* dst, std::size_t blocks) {
  apply_simd_environment();
  HWY_DYNAMIC_DISPATCH(PhiloxBlocks)(counter0, k0, k1, dst, blocks);
}

}  // namespace bitsim::formats::detail
#endif  // HWY_ONCE
