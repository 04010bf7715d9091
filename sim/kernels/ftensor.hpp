// The training engine's activation / gradient / parameter array: an NCHW shape and row-major floats.
// It lives with the kernels, which take and fill it (conv_kernels.hpp, pool_kernels.hpp); the layers
// of sim/nn hold their data in it.
//
// The engine computes in fp32: every value a tensor holds is a float, and every rounding to a
// lower-precision role format (sim/nn/role.hpp) rounds these floats in place. A role format whose
// values a float cannot hold exactly is rejected when the model is built, so "a float holds the value"
// is an invariant, not an approximation. Fully connected tensors use [N, C, 1, 1].
#pragma once

#include "sim/kernels/nchw.hpp"

#include <span>
#include <vector>

namespace bitsim::sim::nn {

struct FTensor {
  Nchw shape;
  std::vector<float> data;  // shape.numel() values, row-major (w fastest, then h, c, n)

  FTensor() = default;
  explicit FTensor(Nchw s) : shape(s), data(static_cast<std::size_t>(s.numel()), 0.0f) {}

  // Resizes to `s` (keeping capacity, so a reused buffer does not reallocate), values unspecified.
  void reshape(Nchw s) {
    shape = s;
    data.resize(static_cast<std::size_t>(s.numel()));
  }
  std::int64_t numel() const { return shape.numel(); }
  // Features per sample (C*H*W): the width of a fully connected layer's input.
  std::int64_t features() const { return shape.c * shape.h * shape.w; }
  std::span<float> span() { return data; }
  std::span<const float> span() const { return data; }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
};

// Conversions for the reference kernels (conv2d.hpp, elementwise.hpp), which take doubles: exact both
// ways for values of formats that fit in float (the reference kernels' fp32 outputs do).
inline NchwArray to_nchw_array(const FTensor& t) {
  return NchwArray(t.shape, std::vector<double>(t.data.begin(), t.data.end()));
}
inline void assign_from(const NchwArray& a, FTensor& t) {
  t.reshape(a.shape);
  for (std::size_t i = 0; i < a.data.size(); ++i) t.data[i] = static_cast<float>(a.data[i]);
}

}  // namespace bitsim::sim::nn
