// Philox4x32-10 on SIMD vectors: the words of philox_block.hpp, bit for bit, many blocks at a time.
// Used by PhiloxWords::fill's bulk loop (philox_fill.cpp) and by the stochastic-rounding array loops,
// which round each chunk of elements right after generating its words (quantize_loops.cpp).
//
// A Highway per-target header (see simd_kernels-inl.hpp): included once per SIMD target, inside that
// target's namespace, hence the toggling guard instead of #pragma once.
#if defined(BITSIM_FORMATS_PHILOX_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef BITSIM_FORMATS_PHILOX_SIMD_INL_H_
#undef BITSIM_FORMATS_PHILOX_SIMD_INL_H_
#else
#define BITSIM_FORMATS_PHILOX_SIMD_INL_H_
#endif

#include "formats/philox_block.hpp"

#include <hwy/highway.h>

#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace bitsim::formats::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Generates the words of consecutive blocks, kWords (a multiple of 4) per call.
//
// Each block's four counter words sit in one 128-bit block of a vector, in the order they are stored
// (Random123's SSE layout). A round is then one MulEven (c0 * M0 and c2 * M1 of every block, as the
// 64-bit lanes lo0:hi0 and lo1:hi1), one shuffle reversing each block's words (hi1 lo1 hi0 lo0), one
// shift bringing c1 and c3 into the even words, and a three-way xor with the round key (k0, 0, k1, 0):
// (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0), which is the next counter. With one register per group of
// blocks, kStates independent groups fit in AVX2's 16 registers and hide the multiply's latency.
class PhiloxVectors {
#if HWY_TARGET != HWY_SCALAR
  using D32 = hn::ScalableTag<std::uint32_t>;
  using D64 = hn::Repartition<std::uint64_t, D32>;
  using V32 = hn::Vec<D32>;
  using V64 = hn::Vec<D64>;
  static constexpr int kStates = 8;

 public:
  static constexpr std::size_t kWords = kStates * hn::MaxLanes(D32{});

  PhiloxVectors(std::uint32_t k0, std::uint32_t k1) {
    const D32 d32;
    const D64 d64;
    HWY_ALIGN std::uint32_t key_words[hn::MaxLanes(D32{})];
    for (int round = 0; round < 10; ++round) {
      for (std::size_t i = 0; i < hn::Lanes(d32); i += 4) {
        key_words[i] = k0 + static_cast<std::uint32_t>(round) * 0x9E3779B9u;
        key_words[i + 1] = 0;
        key_words[i + 2] = k1 + static_cast<std::uint32_t>(round) * 0xBB67AE85u;
        key_words[i + 3] = 0;
      }
      keys_[round] = hn::Load(d32, key_words);
    }
    mul_ = hn::BitCast(d32, hn::OddEven(hn::Set(d64, 0xCD9E8D57u), hn::Set(d64, 0xD2511F53u)));
    block_of_lane_ = hn::ShiftRight<1>(hn::Iota(d64, 0));  // two 64-bit lanes per block
  }

  // dst[0 .. kWords) = the words of blocks first_block, first_block + 1, ...
  HWY_INLINE void generate(std::uint64_t first_block, std::uint32_t* HWY_RESTRICT dst) const {
    const D32 d32;
    const D64 d64;
    const std::size_t per_vector = hn::Lanes(d32) / 4;  // blocks
    V64 counter = hn::Add(hn::Set(d64, first_block), block_of_lane_);
    const V64 step = hn::Set(d64, per_vector);
    V32 c[kStates];
    for (int s = 0; s < kStates; ++s) {
      c[s] = hn::BitCast(d32, hn::OddEven(hn::Zero(d64), counter));  // (ctr lo, ctr hi, 0, 0) per block
      counter = hn::Add(counter, step);
    }
    for (int round = 0; round < 10; ++round) {
      for (int s = 0; s < kStates; ++s) {
        const V32 p = hn::BitCast(d32, hn::MulEven(c[s], mul_));
        const V32 c13 = hn::BitCast(d32, hn::ShiftRight<32>(hn::BitCast(d64, c[s])));
        c[s] = hn::Xor3(hn::Shuffle0123(p), c13, keys_[round]);
      }
    }
    for (int s = 0; s < kStates; ++s) hn::StoreU(c[s], d32, dst + hn::Lanes(d32) * s);
  }

 private:
  V32 keys_[10];
  V32 mul_;
  V64 block_of_lane_;
#else  // one lane: block by block

 public:
  static constexpr std::size_t kWords = 4;
  PhiloxVectors(std::uint32_t k0, std::uint32_t k1) : k0_(k0), k1_(k1) {}
  void generate(std::uint64_t first_block, std::uint32_t* dst) const {
    const PhiloxBlock b = philox_block(first_block, k0_, k1_);
    for (int w = 0; w < 4; ++w) dst[w] = b.w[w];
  }

 private:
  std::uint32_t k0_, k1_;
#endif
};

}  // namespace bitsim::formats::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
