// The random words behind shuffling and augmentation (batches.hpp), as pure functions of
// (seed, epoch[, position]), so a batch never depends on timing, threads or how a run was resumed.
//
//   splitmix64(x)           one step of SplitMix64 (Steele, Lea & Flood 2014) from state x:
//                           z = x + 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//                           z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)  (mod 2^64)
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

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

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
