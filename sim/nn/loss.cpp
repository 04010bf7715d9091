#include "sim/nn/loss.hpp"

#include "sim/nn/model_spec.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sim::nn {

LossResult softmax_cross_entropy(const FTensor& logits, std::span<const std::int32_t> labels, FTensor* dlogits) {
  const std::int64_t N = logits.shape.n, K = logits.features();
  if (static_cast<std::int64_t>(labels.size()) != N)
    throw ModelError("softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(N) + " samples");
  LossResult r;
  double total = 0;
  std::vector<double> ex(static_cast<std::size_t>(K));
  if (dlogits) dlogits->reshape(logits.shape);
  for (std::int64_t i = 0; i < N; ++i) {
    const std::int32_t label = labels[static_cast<std::size_t>(i)];
    if (label < 0 || label >= K)
      throw ModelError("softmax_cross_entropy: label " + std::to_string(label) + " of sample " +
                                  std::to_string(i) + " is outside [0, " + std::to_string(K) + ")");
    const float* z = logits.ptr() + i * K;
    double m = z[0];
    std::int64_t arg = 0;
    for (std::int64_t j = 1; j < K; ++j)
      if (z[j] > m) {
        m = z[j];
        arg = j;
      }
    double s = 0;
    for (std::int64_t j = 0; j < K; ++j) {
      ex[static_cast<std::size_t>(j)] = std::exp(z[j] - m);
      s += ex[static_cast<std::size_t>(j)];
    }
    total += (m + std::log(s)) - z[label];
    if (arg == label) ++r.correct;
    if (dlogits)
      for (std::int64_t j = 0; j < K; ++j) {
        const double p = ex[static_cast<std::size_t>(j)] / s;
        dlogits->data[static_cast<std::size_t>(i * K + j)] =
            static_cast<float>((p - (j == label ? 1.0 : 0.0)) / static_cast<double>(N));
      }
  }
  r.loss = total / static_cast<double>(N);
  return r;
}

}  // namespace bitsim::sim::nn
