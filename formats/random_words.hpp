// Sources of the 32-bit random words consumed by stochastic rounding (formats.md section 2):
// every element i consumes exactly one word, whatever its value.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bitsim::formats {

// Philox4x32-10 with key (seed mod 2^32, seed div 2^32): element i uses output word i mod 4 of the
// block with counter (i div 4, 0, 0, 0). Counter-based, so any element's word is computable directly
// and results do not depend on how work is split across threads.
class PhiloxWords {
 public:
  explicit PhiloxWords(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }

  // The word of element `index`.
  std::uint32_t word(std::uint64_t index) const;
  // out[j] = word(first + j); the bulk loop runs on the SIMD target of formats/simd_target.hpp.
  void fill(std::uint64_t first, std::span<std::uint32_t> out) const;

 private:
  std::uint64_t seed_;
};

// The seed mixer of every derived random stream (a rounding site's seed, the data order, statistics
// samples): one step of SplitMix64 (Steele, Lea and Flood 2014) from state x,
//   z = x + 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//   z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)   (mod 2^64).
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Reads a words file: one unsigned 32-bit word per line, decimal or 0x/0X hex; blank lines skipped;
// surrounding spaces ignored. Throws std::runtime_error naming the file and line of a bad word
// (malformed, or >= 2^32).
std::vector<std::uint32_t> read_words_file(const std::string& path);

// Parses one word as read_words_file does; returns false when malformed or out of range.
bool parse_word(const std::string& text, std::uint32_t& out);

}  // namespace bitsim::formats
