// Readers for the IDX format of MNIST and Fashion-MNIST (LeCun et al.; Xiao et al. 2017).
//
// An IDX file is a big-endian header followed by the raw data:
//   images: magic 0x00000803 (uint8, 3 dimensions), n, rows, cols (uint32 each), then n*rows*cols bytes
//           (image after image, each row-major);
//   labels: magic 0x00000801 (uint8, 1 dimension), n, then n bytes.
// Files may be gzip-compressed (".gz") or raw: zlib's gzread reads both (gz_file.hpp).
//
// Checks, each a DatasetError naming the file: missing file; bad magic (with a hint when an image and
// a label file are swapped); a header or data shorter than the header promises ("truncated"); bytes
// after the promised data ("trailing garbage"); image and label counts that differ; a label >= classes;
// absurd dimensions: a zero rows/cols, or a header whose decoded float images would take more than
// 2^31 bytes (kMaxDecodedBytes), refused before anything is allocated.
//
// The result is a Dataset with channels = 1, height = rows, width = cols, pixels float(b) / 255.0f.
#pragma once

#include "sim/data/dataset.hpp"

#include <cstdint>
#include <string>

namespace bitsim::sim::data {

// Reads an image file and its label file into a Dataset called `name`.
// classes > 0: the number of classes (labels must be < classes; 10 for (Fashion-)MNIST).
// classes == 0: inferred as max label + 1 (at most 256, since labels are bytes; 0 for an empty set).
// classes outside [0, 256] throws std::invalid_argument.
Dataset read_idx(const std::string& images_path, const std::string& labels_path, const std::string& name,
                 int classes = 0);

// Default directory of the Debian package dataset-fashion-mnist.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Loads Fashion-MNIST from `dir`: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (each also accepted without ".gz"), as
// "fashion-mnist-train" (60000 images) and "fashion-mnist-test" (10000), 1x28x28, 10 classes.
// A missing directory or file gives a DatasetError that says how to install the data set
// ("sudo apt-get install dataset-fashion-mnist") or point elsewhere (--set data.dir=DIR). Test images of
// another size than the training images give a DatasetError naming both files.
DatasetSplit load_fashion_mnist(const std::string& dir = kFashionMnistDir);

}  // namespace bitsim::sim::data
