// Sums in one fixed order, the same on every thread count and SIMD target: eight interleaved double
// partial sums, element i of a plane into partial i mod 8 (a plane's tail into partials 0..r-1),
// combined as ((0+1)+(2+3))+((4+5)+(6+7)). Batch normalization takes every per-channel sum this way
// (batchnorm_layer.hpp), feeding the planes of a channel in increasing n. Written so that the
// compiler vectorizes the lanes.
#pragma once

#include <cstdint>

namespace bitsim::sim::nn {

struct Sum8 {
  double lane[8] = {};
  // sum of p
  void add(const float* p, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += p[i + l];
    for (int l = 0; i < n; ++i, ++l) lane[l] += p[i];
  }
  // sum of (p - m)^2 in double
  void add_sq_dev(const float* p, std::int64_t n, double m) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) {
        const double d = p[i + l] - m;
        lane[l] += d * d;
      }
    for (int l = 0; i < n; ++i, ++l) {
      const double d = p[i] - m;
      lane[l] += d * d;
    }
  }
  // sum of p * float(q - m): the forward's operand x - mu (fp32 subtraction), times dy, in double.
  void add_prod_dev(const float* p, const float* q, float m, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(p[i + l]) * static_cast<float>(q[i + l] - m);
    for (int l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(p[i]) * static_cast<float>(q[i] - m);
  }
  // sum of p * q in double
  void add_prod(const float* p, const float* q, std::int64_t n) {
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(p[i + l]) * q[i + l];
    for (int l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(p[i]) * q[i];
  }
  double total() const { return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])); }
};

}  // namespace bitsim::sim::nn
