// The random words behind shuffling and augmentation (batches.hpp), as pure functions of
// (seed, epoch[, position]), so a batch never depends on timing, threads or how a run was resumed.
//
//   splitmix64(x)           formats::splitmix64 (formats/random_words.hpp), the one seed mixer
//   stream_key(seed, e, s)  splitmix64(splitmix64(seed) ^ (2*e + s)) (mod 2^64), s = 0 shuffle, 1 augment:
//                           the key of formats::PhiloxWords for that epoch and purpose
//   BoundedDraws            consumes words key.word(first), key.word(first+1), ... in order; below(s)
//                           is Lemire's multiply-shift (2019) with rejection, exactly uniform on [0, s):
//                             m = word * s (64-bit); if (m mod 2^32) < s: t = (2^32 - s) mod s and,
//                             while (m mod 2^32) < t, m = next word * s; result m div 2^32
//   epoch_permutation       Fisher-Yates with the shuffle stream from word 0: p = identity; for
//                           i = count-1 down to 1: j = below(i+1), swap(p[i], p[j])
#pragma once

#include "formats/random_words.hpp"

#include <cstdint>
#include <vector>

namespace bitsim::sim::data {

using formats::splitmix64;

enum class WordStream : std::uint64_t { shuffle = 0, augment = 1 };

constexpr std::uint64_t stream_key(std::uint64_t seed, std::uint64_t epoch, WordStream s) {
  return splitmix64(splitmix64(seed) ^ (2 * epoch + static_cast<std::uint64_t>(s)));
}

// Sequential, unbiased draws from the words of one Philox key, starting at word index `first`.
class BoundedDraws {
 public:
  BoundedDraws(std::uint64_t key, std::uint64_t first) : words_(key), next_(first) {}
  std::uint32_t word() { return words_.word(next_++); }
  // Uniform on [0, s); s >= 1.
  std::uint32_t below(std::uint32_t s);
  std::uint64_t next_index() const { return next_; }

 private:
  formats::PhiloxWords words_;
  std::uint64_t next_;
};

// The sample order of epoch `epoch`: a permutation of 0..count-1. count must be < 2^32
// (std::invalid_argument otherwise).
std::vector<std::int64_t> epoch_permutation(std::int64_t count, std::uint64_t seed, std::uint64_t epoch);

}  // namespace bitsim::sim::data
