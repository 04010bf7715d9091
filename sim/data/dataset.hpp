// An image-classification data set held in memory, as the training engine consumes it.
//
// Invariants (every reader in sim/data/ establishes them; BatchStream and normalize() rely on them):
//   images.size() == count * channels * height * width, NCHW row-major (w fastest, then h, c, n);
//   labels.size() == count, and 0 <= labels[i] < classes.
// Pixels are stored as float: a reader scales a byte b to float(b) / 255.0f (the correctly rounded
// float quotient, so in [0, 1]); normalize() (normalize.hpp) later maps them to zero mean, unit std.
// Floats, not doubles: 60000 Fashion-MNIST or 50000 CIFAR-10 images must fit comfortably in memory,
// and the simulator rounds every input to its first layer's format anyway.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sim::data {

// Largest decoded image array (count*C*H*W floats) or label array a reader accepts (guards against absurd headers), in
// bytes.
inline constexpr std::uint64_t kMaxDecodedBytes = std::uint64_t{1} << 31;

struct Dataset {
  std::string name;  // e.g. "fashion-mnist-train"; used in messages
  std::int64_t count = 0, channels = 0, height = 0, width = 0;
  int classes = 0;
  std::vector<float> images;         // count*C*H*W, NCHW row-major, values in [0,1] (byte/255) until normalized
  std::vector<std::int32_t> labels;  // count labels in [0, classes)
};

struct DatasetSplit {
  Dataset train, test;
};

// A data file that is missing, unreadable or malformed, or an unknown data set. The message names the
// file and what is wrong (and, for a missing standard data set, how to install it).
class DatasetError : public bitsim::Error {
 public:
  using Error::Error;
};

// The samples of a data set as its name promises them, known before any file is read: what a config
// is checked against when it is read (sim/train/config.cpp). A data folder may still hold images of
// another size (IDX files of any size); the trainer checks the model again against what it reads.
struct SampleGeometry {
  std::int64_t channels = 0, height = 0, width = 0;
  int classes = 0;
};

// "fashion-mnist": 1 x 28 x 28, 10 classes; "cifar10": 3 x 32 x 32, 10 classes.
inline SampleGeometry standard_geometry(const std::string& dataset) {
  if (dataset == "fashion-mnist") return {1, 28, 28, 10};
  if (dataset == "cifar10") return {3, 32, 32, 10};
  throw DatasetError("unknown data set '" + dataset + "'");
}

}  // namespace bitsim::sim::data
