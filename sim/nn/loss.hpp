// Softmax cross-entropy on logits [N, classes, 1, 1] with one label per sample, computed in double in
// the fixed order of sim/kernels/elementwise.hpp's softmax_cross_entropy_forward (deterministic, not exact):
//   m = max_j z_j;  s = sum_j exp(z_j - m);  p_j = exp(z_j - m) / s;  loss_i = (m + log s) - z_label
//   loss = (sum_i loss_i) / N;  dL/dz_ij = (p_ij - [j == label_i]) / N, rounded to float. The gradient
// that enters the last layer's backward is then rounded to that layer's error role E by
// Model::round_loss_gradient, a rounding site like any other (statistics and hazard checks see it).
#pragma once

#include "sim/kernels/ftensor.hpp"

#include <cstdint>
#include <span>

namespace bitsim::sim::nn {

struct LossResult {
  double loss = 0;            // mean over the batch
  std::int64_t correct = 0;   // samples whose largest logit (first on ties) is the label
};

// Throws ModelError for a label outside [0, classes).
LossResult softmax_cross_entropy(const FTensor& logits, std::span<const std::int32_t> labels, FTensor* dlogits);

}  // namespace bitsim::sim::nn
