// Reader for the binary version of CIFAR-10 (Krizhevsky 2009, cifar-10-binary.tar.gz).
//
// Each file is a sequence of 3073-byte records: 1 label byte (0..9), then a 32x32 RGB image as 3072
// bytes in planes: 1024 red, 1024 green, 1024 blue, each plane row-major. That is already NCHW for one
// sample, so a record maps to a Dataset sample by scaling its bytes (float(b) / 255.0f).
// The training set is data_batch_1.bin .. data_batch_5.bin (10000 records each) concatenated in that
// order, the test set is test_batch.bin.
//
// Checks, each a DatasetError naming the file: missing file (with where to download the data); a size
// that is not a positive multiple of 3073; a label > 9; more than kMaxDecodedBytes of decoded images.
#pragma once

#include "sim/data/dataset.hpp"

#include <cstdint>
#include <string>

namespace bitsim::sim::data {

inline constexpr std::int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

// Reads one CIFAR-10 binary batch file (gzip-compressed files are read too) as a Dataset called
// `name`: 3x32x32, 10 classes.
Dataset read_cifar10_batch(const std::string& path, const std::string& name);

// Loads CIFAR-10 from `dir`, the folder cifar-10-batches-bin/ of the extracted archive (a `dir` that
// holds that folder is accepted too), as "cifar10-train" (50000 images) and "cifar10-test" (10000).
DatasetSplit load_cifar10(const std::string& dir);

}  // namespace bitsim::sim::data
