// A plain NCHW activation array for the convolution and element-wise kernels (conv2d.hpp,
// elementwise.hpp): a 4-D shape and row-major doubles (w varies fastest, then h, c, n).
//
// The values are real numbers held exactly as doubles; they are not tied to a number format. Every
// kernel states which format each operand is rounded to and which format its result is rounded to; a
// result's values are exact values of its output format, so formats::Quantizer(out).encode(values)
// gives its codes without another rounding.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sim {

// Bad shapes or parameters of a conv/pooling/element-wise kernel; the message names the dimension.
class KernelShapeError : public bitsim::Error {
 public:
  using Error::Error;
};

struct Nchw {
  std::int64_t n = 0, c = 0, h = 0, w = 0;

  std::int64_t numel() const { return n * c * h * w; }
  // Flat row-major index of element (in, ic, ih, iw).
  std::int64_t at(std::int64_t in, std::int64_t ic, std::int64_t ih, std::int64_t iw) const {
    return ((in * c + ic) * h + ih) * w + iw;
  }
  std::string to_string() const {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
    std::string s = "[";
    s += std::to_string(n);
    s += ", ";
    s += std::to_string(c);
    s += ", ";
    s += std::to_string(h);
    s += ", ";
    s += std::to_string(w);
    s += "]";
    return s;
  }
  bool operator==(const Nchw&) const = default;
};

struct NchwArray {
  Nchw shape;
  std::vector<double> data;  // shape.numel() values, row-major

  NchwArray() = default;
  explicit NchwArray(Nchw s) : shape(s), data(static_cast<std::size_t>(s.numel()), 0.0) {}
  NchwArray(Nchw s, std::vector<double> d) : shape(s), data(std::move(d)) {}

  double& operator()(std::int64_t in, std::int64_t ic, std::int64_t ih, std::int64_t iw) {
    return data[static_cast<std::size_t>(shape.at(in, ic, ih, iw))];
  }
  double operator()(std::int64_t in, std::int64_t ic, std::int64_t ih, std::int64_t iw) const {
    return data[static_cast<std::size_t>(shape.at(in, ic, ih, iw))];
  }
};

// Throws KernelShapeError unless every dimension is >= 1 and the element count stays below 2^62.
// `what` names the operand in the message (e.g. "conv2d: x").
inline void check_shape(const Nchw& s, const char* what) {
  const char* names[4] = {"n", "c", "h", "w"};
  const std::int64_t dims[4] = {s.n, s.c, s.h, s.w};
  std::int64_t count = 1;
  for (int i = 0; i < 4; ++i) {
    if (dims[i] < 1)
      throw KernelShapeError(std::string(what) + ": dimension " + names[i] + " = " + std::to_string(dims[i]) +
                             " must be >= 1 (shape " + s.to_string() + ")");
    if (count > (std::int64_t{1} << 62) / dims[i]) throw KernelShapeError(std::string(what) + ": more than 2^62 elements");
    count *= dims[i];
  }
}

// check_shape, and `data` must hold exactly numel() values.
inline void check_nchw(const NchwArray& a, const char* what) {
  check_shape(a.shape, what);
  if (static_cast<std::int64_t>(a.data.size()) != a.shape.numel())
    throw KernelShapeError(std::string(what) + ": holds " + std::to_string(a.data.size()) + " values, shape " +
                           a.shape.to_string() + " needs " + std::to_string(a.shape.numel()));
}

}  // namespace bitsim::sim
