#include "sim/data/stream_words.hpp"

#include <fmt/format.h>

#include <numeric>
#include <stdexcept>
#include <utility>

namespace bitsim::sim::data {

std::uint32_t BoundedDraws::below(std::uint32_t s) {
  std::uint64_t m = std::uint64_t{word()} * s;
  auto low = static_cast<std::uint32_t>(m);
  if (low < s) {
    const std::uint32_t t = static_cast<std::uint32_t>(-s) % s;  // (2^32 - s) mod s
    while (low < t) {
      m = std::uint64_t{word()} * s;
      low = static_cast<std::uint32_t>(m);
    }
  }
  return static_cast<std::uint32_t>(m >> 32);
}

std::vector<std::int64_t> epoch_permutation(std::int64_t count, std::uint64_t seed, std::uint64_t epoch) {
  if (count < 0 || count >= (std::int64_t{1} << 32))
    throw std::invalid_argument(fmt::format("epoch_permutation: count = {} must be in [0, 2^32)", count));
  std::vector<std::int64_t> p(static_cast<std::size_t>(count));
  std::iota(p.begin(), p.end(), std::int64_t{0});
  BoundedDraws draws(stream_key(seed, epoch, WordStream::shuffle), 0);
  for (std::int64_t i = count - 1; i >= 1; --i) {
    const std::uint32_t j = draws.below(static_cast<std::uint32_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[j]);
  }
  return p;
}

}  // namespace bitsim::sim::data
