// Per-channel standardization of a data set: x -> (x - mean[c]) / std[c].
//
// channel_stats computes the statistics in double in one fixed order (channel by channel; within a
// channel, sample 0..count-1, then pixels row-major), two passes (mean, then the mean squared
// deviation), so results are identical on every run and machine. std is the population standard
// deviation (divide by N, not N-1). Both are rounded once to float for storage.
// The usual practice, which the engine follows: compute the statistics on the training set and apply
// the same Normalization to train and test.
#pragma once

#include "sim/data/dataset.hpp"

#include <vector>

namespace bitsim::sim::data {

struct Normalization {
  std::vector<float> mean, std;  // one entry per channel
};

// Throws DatasetError if the data set is empty or its arrays disagree with its shape.
Normalization channel_stats(const Dataset& d);

// In float: x = (x - mean[c]) / std[c], each operation rounded to nearest even by the hardware (no
// fused multiply-add: -ffp-contract=off). Throws DatasetError (naming the data set) if the sizes
// differ from d.channels or a std is not positive and finite (a constant channel cannot be
// standardized).
void normalize(Dataset& d, const Normalization& n);

}  // namespace bitsim::sim::data
