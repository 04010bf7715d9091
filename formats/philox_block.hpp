// One block of Philox4x32-10 (Salmon et al., SC'11): four 32-bit words from a 64-bit counter and a
// 64-bit key, the generator of bitsim's stochastic-rounding words (random_words.hpp: word index i is
// word i % 4 of block i / 4). Internal to formats/: the scalar path (PhiloxWords::word) and the
// per-target bulk loop (philox_fill.cpp) share it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitsim::formats::detail {

struct PhiloxBlock {
  std::uint32_t w[4];
};

inline PhiloxBlock philox_block(std::uint64_t counter, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;    // round multipliers
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32), c2 = 0,
                c3 = 0;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{kMul0} * c0, p1 = std::uint64_t{kMul1} * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// dst[4b .. 4b+3] = the words of block counter0 + b, for b < blocks: the bulk of PhiloxWords::fill,
// compiled once per SIMD target (the loop's iterations are independent, so the compiler vectorizes
// it across blocks with the target's widest registers) and dispatched at run time.
void philox_blocks(std::uint64_t counter0, std::uint32_t k0, std::uint32_t k1, std::uint32_t* dst, std::size_t blocks);

}  // namespace bitsim::formats::detail
