#include "sim/data/normalize.hpp"

#include <fmt/format.h>

#include <cmath>

namespace bitsim::sim::data {

namespace {

void check_shape(const Dataset& d) {
  if (d.count < 0 || d.channels <= 0 || d.height <= 0 || d.width <= 0 ||
      d.images.size() != static_cast<std::size_t>(d.count * d.channels * d.height * d.width))
    throw DatasetError(fmt::format("data set {}: shape {}x{}x{}x{} does not match its {} image values", d.name, d.count,
                                   d.channels, d.height, d.width, d.images.size()));
}

}  // namespace

Normalization channel_stats(const Dataset& d) {
  check_shape(d);
  if (d.count == 0)
    throw DatasetError(fmt::format("data set {}: no samples to compute channel statistics from", d.name));
  const std::int64_t plane = d.height * d.width;
  const double n = static_cast<double>(d.count * plane);
  Normalization out;
  for (std::int64_t c = 0; c < d.channels; ++c) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < d.count; ++i) {
      const float* p = d.images.data() + (i * d.channels + c) * plane;
      for (std::int64_t k = 0; k < plane; ++k) sum += static_cast<double>(p[k]);
    }
    const double mean = sum / n;
    double sq = 0.0;
    for (std::int64_t i = 0; i < d.count; ++i) {
      const float* p = d.images.data() + (i * d.channels + c) * plane;
      for (std::int64_t k = 0; k < plane; ++k) {
        const double dev = static_cast<double>(p[k]) - mean;
        sq += dev * dev;
      }
    }
    out.mean.push_back(static_cast<float>(mean));
    out.std.push_back(static_cast<float>(std::sqrt(sq / n)));
  }
  return out;
}

void normalize(Dataset& d, const Normalization& n) {
  check_shape(d);
  const auto channels = static_cast<std::size_t>(d.channels);
  if (n.mean.size() != channels || n.std.size() != channels)
    throw DatasetError(fmt::format("data set {} has {} channels but the normalization has {} means and {} stds", d.name,
                                   d.channels, n.mean.size(), n.std.size()));
  for (std::size_t c = 0; c < channels; ++c)
    if (!(std::isfinite(n.std[c]) && n.std[c] > 0.0f) || !std::isfinite(n.mean[c]))
      throw DatasetError(fmt::format("data set {}: channel {} has mean {} and std {}; std must be positive and finite",
                                     d.name, c, n.mean[c], n.std[c]));
  const std::int64_t plane = d.height * d.width;
  for (std::int64_t i = 0; i < d.count; ++i)
    for (std::int64_t c = 0; c < d.channels; ++c) {
      const float mean = n.mean[static_cast<std::size_t>(c)], sd = n.std[static_cast<std::size_t>(c)];
      float* p = d.images.data() + (i * d.channels + c) * plane;
      for (std::int64_t k = 0; k < plane; ++k) p[k] = (p[k] - mean) / sd;
    }
}

}  // namespace bitsim::sim::data
