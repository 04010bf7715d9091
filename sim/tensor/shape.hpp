// Tensor shapes: up to 4 dimensions, row-major (the last index varies fastest), NCHW for images.
//
// A Shape of rank 0 is a scalar (one element). Dimensions may be 0 (an empty tensor). Indices and
// sizes are std::int64_t throughout; numel() is checked not to exceed 2^62.
#pragma once

#include "io/error.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace bitsim::sim {

class ShapeError : public bitsim::Error {
 public:
  using Error::Error;
};

inline constexpr int kMaxRank = 4;

// The product of `factors` when every factor is >= 0 and the product is at most `limit`; otherwise
// nullopt. Formed without overflow: how a size that comes from a user (options, configs, file headers)
// is checked before anything is allocated.
inline std::optional<std::int64_t> product_within(std::initializer_list<std::int64_t> factors, std::int64_t limit) {
  bool has_zero = false;
  for (const std::int64_t d : factors) {
    if (d < 0) return std::nullopt;
    has_zero = has_zero || d == 0;
  }
  if (has_zero) return std::int64_t{0};
  std::int64_t n = 1;
  for (const std::int64_t d : factors) {
    if (n > limit / d) return std::nullopt;
    n *= d;
  }
  return n;
}

class Shape {
 public:
  Shape() = default;  // rank 0: a scalar
  Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}
  explicit Shape(std::span<const std::int64_t> dims) {
    if (dims.size() > static_cast<std::size_t>(kMaxRank))
      throw ShapeError("shape: rank " + std::to_string(dims.size()) + " exceeds the maximum of 4");
    rank_ = static_cast<int>(dims.size());
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) {
      const std::int64_t d = dims[static_cast<std::size_t>(i)];
      if (d < 0) throw ShapeError("shape: dimension " + std::to_string(i) + " is negative (" + std::to_string(d) + ")");
      if (d != 0 && n > (std::int64_t{1} << 62) / d) throw ShapeError("shape: more than 2^62 elements");
      dims_[static_cast<std::size_t>(i)] = d;
      n *= d;
    }
    numel_ = n;
  }

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const { return dims_[checked(axis)]; }
  std::int64_t numel() const { return numel_; }
  // Elements between consecutive indices of `axis` (product of the later dimensions).
  std::int64_t stride(int axis) const {
    std::int64_t s = 1;
    for (int i = static_cast<int>(checked(axis)) + 1; i < rank_; ++i) s *= dims_[static_cast<std::size_t>(i)];
    return s;
  }
  // Length of the last axis (1 for a scalar): the rows along which MX blocks run.
  std::int64_t last() const { return rank_ == 0 ? 1 : dims_[static_cast<std::size_t>(rank_ - 1)]; }
  std::span<const std::int64_t> dims() const { return {dims_.data(), static_cast<std::size_t>(rank_)}; }

  // Flat (row-major) index of a full multi-index; throws ShapeError when out of bounds.
  std::int64_t offset(std::span<const std::int64_t> index) const {
    if (index.size() != static_cast<std::size_t>(rank_))
      throw ShapeError("index of rank " + std::to_string(index.size()) + " into shape " + to_string());
    std::int64_t flat = 0;
    for (int i = 0; i < rank_; ++i) {
      const std::int64_t x = index[static_cast<std::size_t>(i)], d = dims_[static_cast<std::size_t>(i)];
      if (x < 0 || x >= d)
        throw ShapeError("index " + std::to_string(x) + " out of range for axis " + std::to_string(i) + " of shape " +
                         to_string());
      flat = flat * d + x;
    }
    return flat;
  }
  std::int64_t offset(std::initializer_list<std::int64_t> index) const {
    return offset(std::span<const std::int64_t>(index.begin(), index.size()));
  }
  // The multi-index of a flat index (inverse of offset()); entries beyond rank() are 0.
  std::array<std::int64_t, kMaxRank> unravel(std::int64_t flat) const {
    std::array<std::int64_t, kMaxRank> idx{};
    for (int i = rank_ - 1; i >= 0; --i) {
      const std::int64_t d = dims_[static_cast<std::size_t>(i)];
      idx[static_cast<std::size_t>(i)] = d == 0 ? 0 : flat % d;
      flat = d == 0 ? 0 : flat / d;
    }
    return idx;
  }
  // The shape without its first axis (what one index of the first axis selects).
  Shape drop_first() const {
    if (rank_ == 0) throw ShapeError("shape: a scalar has no axis to index");
    return Shape(dims().subspan(1));
  }

  // "[2,3,4,4]"; "[]" for a scalar.
  std::string to_string() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ',';
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
  }

  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (dims_[static_cast<std::size_t>(i)] != o.dims_[static_cast<std::size_t>(i)]) return false;
    return true;
  }

 private:
  std::size_t checked(int axis) const {
    if (axis < 0 || axis >= rank_)
      throw ShapeError("axis " + std::to_string(axis) + " out of range for shape " + to_string());
    return static_cast<std::size_t>(axis);
  }

  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
  std::int64_t numel_ = 1;
};

}  // namespace bitsim::sim
