// PhiloxWords::fill's bulk loop, compiled once per SIMD target by Highway's foreach_target (this file
// includes itself once per target) and dispatched at run time; see philox_block.hpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "formats/philox_fill.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include "formats/philox_block.hpp"
#include "formats/philox_simd-inl.hpp"
#include "formats/simd_target.hpp"

HWY_BEFORE_NAMESPACE();
namespace bitsim::formats::detail::HWY_NAMESPACE {

void PhiloxBlocks(std::uint64_t counter0, std::uint32_t k0, std::uint32_t k1, std::uint32_t* dst, std::size_t blocks) {
  constexpr std::size_t kBlocks = PhiloxVectors::kWords / 4;
  std::size_t b = 0;
  if (blocks >= kBlocks) {
    const PhiloxVectors gen(k0, k1);
    for (; b + kBlocks <= blocks; b += kBlocks) gen.generate(counter0 + b, dst + 4 * b);
  }
  for (; b < blocks; ++b) {
    const PhiloxBlock blk = philox_block(counter0 + b, k0, k1);
    for (int w = 0; w < 4; ++w) dst[4 * b + w] = blk.w[w];
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
