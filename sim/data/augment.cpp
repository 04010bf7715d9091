#include "sim/data/augment.hpp"

#include "sim/data/stream_words.hpp"

#include <algorithm>
#include <cstring>

namespace bitsim::sim::data {

SampleAugment draw_augment(std::uint64_t seed, std::uint64_t epoch, std::int64_t position, const Augment& aug) {
  SampleAugment a;
  a.dy = a.dx = aug.crop_pad;
  if (!aug.any()) return a;
  BoundedDraws draws(stream_key(seed, epoch, WordStream::augment), static_cast<std::uint64_t>(position) << 32);
  if (aug.crop_pad > 0) {
    const auto range = static_cast<std::uint32_t>(2 * aug.crop_pad + 1);
    a.dy = static_cast<int>(draws.below(range));
    a.dx = static_cast<int>(draws.below(range));
  }
  if (aug.flip) a.flip = (draws.word() >> 31) == 1u;
  return a;
}

void augment_sample(const float* src, float* dst, std::int64_t channels, std::int64_t height, std::int64_t width,
                    int crop_pad, const SampleAugment& a) {
  const std::int64_t plane = height * width;
  if (a.dy == crop_pad && a.dx == crop_pad && !a.flip) {
    std::memcpy(dst, src, static_cast<std::size_t>(channels * plane) * sizeof(float));
    return;
  }
  // Source column of output column x (before the flip): x + dx - pad; the valid ones are [x0, x1).
  const std::int64_t shift_x = a.dx - crop_pad, shift_y = a.dy - crop_pad;
  const std::int64_t x0 = std::clamp<std::int64_t>(-shift_x, 0, width);
  const std::int64_t x1 = std::clamp<std::int64_t>(width - shift_x, x0, width);
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t y = 0; y < height; ++y) {
      float* row = dst + c * plane + y * width;
      const std::int64_t sy = y + shift_y;
      if (sy < 0 || sy >= height) {
        std::fill(row, row + width, 0.0f);
        continue;
      }
      const float* srow = src + c * plane + sy * width;
      std::fill(row, row + x0, 0.0f);
      if (x1 > x0) std::memcpy(row + x0, srow + x0 + shift_x, static_cast<std::size_t>(x1 - x0) * sizeof(float));
      std::fill(row + x1, row + width, 0.0f);
      if (a.flip) std::reverse(row, row + width);
    }
}

}  // namespace bitsim::sim::data
