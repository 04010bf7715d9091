#include "sim/data/batches.hpp"

#include "sim/data/stream_words.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace bitsim::sim::data {

BatchStream::BatchStream(const Dataset& d, std::int64_t batch_size, std::uint64_t seed, bool shuffle, Augment aug,
                         bool drop_last)
    : data_(d),
      batch_size_(batch_size),
      seed_(seed),
      shuffle_(shuffle),
      aug_(aug),
      drop_last_(drop_last),
      sample_size_(d.channels * d.height * d.width) {
  if (batch_size < 1)
    throw std::invalid_argument(fmt::format("BatchStream({}): batch_size = {} must be >= 1", d.name, batch_size));
  if (aug.crop_pad < 0 || aug.crop_pad > (1 << 20))
    throw std::invalid_argument(
        fmt::format("BatchStream({}): crop_pad = {} must be in [0, 2^20]", d.name, aug.crop_pad));
  if (d.count < 0 || d.count >= (std::int64_t{1} << 32) || d.channels < 0 || d.height < 0 || d.width < 0 ||
      d.images.size() != static_cast<std::size_t>(d.count * sample_size_) ||
      d.labels.size() != static_cast<std::size_t>(d.count))
    throw std::invalid_argument(fmt::format(
        "BatchStream({}): dataset shape {}x{}x{}x{} does not match its {} image values and {} labels (or has 2^32 "
        "samples or more)",
        d.name, d.count, d.channels, d.height, d.width, d.images.size(), d.labels.size()));
}

std::int64_t BatchStream::batches_per_epoch() const {
  return drop_last_ ? data_.count / batch_size_ : (data_.count + batch_size_ - 1) / batch_size_;
}

void BatchStream::restore(State s) {
  if (s.position < 0 || s.position > data_.count)
    throw std::invalid_argument(
        fmt::format("BatchStream({})::restore: position {} is outside [0, {}]", data_.name, s.position, data_.count));
  epoch_ = s.epoch;
  position_ = s.position;
}

const std::vector<std::int64_t>& BatchStream::order() {
  if (!perm_valid_ || perm_epoch_ != epoch_) {
    perm_ = epoch_permutation(data_.count, seed_, epoch_);
    perm_epoch_ = epoch_;
    perm_valid_ = true;
  }
  return perm_;
}

bool BatchStream::next(Batch& out) {
  const std::int64_t left = data_.count - position_;
  if (left <= 0 || (drop_last_ && left < batch_size_)) {
    ++epoch_;
    position_ = 0;
    return false;
  }
  const std::int64_t size = std::min(batch_size_, left);
  const std::int64_t* perm = shuffle_ ? order().data() : nullptr;
  out.size = size;
  out.channels = data_.channels;
  out.height = data_.height;
  out.width = data_.width;
  out.images.resize(static_cast<std::size_t>(size * sample_size_));
  out.labels.resize(static_cast<std::size_t>(size));
  const bool augment = aug_.any();
  for (std::int64_t j = 0; j < size; ++j) {
    const std::int64_t p = position_ + j;
    const std::int64_t i = perm != nullptr ? perm[p] : p;
    const float* src = data_.images.data() + i * sample_size_;
    float* dst = out.images.data() + j * sample_size_;
    out.labels[static_cast<std::size_t>(j)] = data_.labels[static_cast<std::size_t>(i)];
    if (augment)
      augment_sample(src, dst, data_.channels, data_.height, data_.width, aug_.crop_pad,
                     draw_augment(seed_, epoch_, p, aug_));
    else
      std::memcpy(dst, src, static_cast<std::size_t>(sample_size_) * sizeof(float));
  }
  position_ += size;
  return true;
}

}  // namespace bitsim::sim::data
