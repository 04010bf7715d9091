// The format-carrying tensor: a shape (up to 4-D, row-major, NCHW for images), a quantizer policy
// (sim/tensor/tensor_policy.hpp) and a rounding, storing the codes of its elements (packed for widths of
// 8 bits or less, see sim/tensor/packing.hpp) plus the scales the policy needs. docs/tensor.md is the user
// contract; this header states the invariants and rounding points.
//
// Training roles with a scaled, affine or MX policy round through it (sim/nn/role.cpp: quantize, then
// decode to floats); the other roles still use their own element-wise kernels. Use:
//     Tensor t(shape, parse_policy("mxfp8_e4m3"));
//     t.quantize(x);        // x: float or double array of shape.numel() real values
//     t.decode(y);          // y: the values the stored codes and scales represent
// or t.quantize_decode(x, y) for both.
//
// Quantization, for element i of group g (the groups are the policy's scale domains: the whole
// tensor, one index of an axis, or one MX block):
//   * elementwise: code = round_F(x_i).
//   * scaled pow2: s_g = 2^k, k = ceil(log2(amax_g / L)), L the format's largest finite value, amax_g
//     the largest |x| over the group's finite elements (k = 0 when amax_g = 0); code = round_F(x_i / s_g),
//     the division exact (a power of two; where a double cannot hold x_i / s_g the exact quotient is
//     rounded by the golden path).
//   * scaled real: s_g = amax_g / L rounded to the nearest double (1 when amax_g = 0; clamped to
//     [smallest positive double, largest finite double]); y_i = x_i / s_g rounded to the nearest
//     double; code = round_F(y_i). Two roundings: the division and the element.
//   * affine: see docs/tensor.md; code q_i = clamp(z_g + round(x_i / s_g), qmin, qmax).
//   * mx: E8M0 scale X_g = 2^e, e = clamp(floor(log2(amax_g)) - emax_elem, -127, 127) (e = -127 for an
//     all-zero block); code = round_F(x_i / X_g), exact division, F saturating. A block holding a NaN
//     or an infinity gets the NaN scale (E8M0 code 0xFF).
// round_F is the formats library's quantization with the tensor's rounding (rne by default; sr uses
// one 32-bit Philox4x32-10 word per element: element i takes word (word_offset + i) of the tensor's
// seed, whatever its value, so a result depends only on seed, offset and data).
//
// Decoding gives value_i = decode_F(code_i) * s_g (affine: (q_i - z_g) * s_g), computed in double:
// exact for elementwise, pow2 and mx unless the product leaves the double range (then rounded once);
// one rounding (the product) for real and affine. Float output is the double value rounded to float
// (for pow2, mx and elementwise formats that fit float this is the exact value rounded once).
//
// A new tensor holds quantize(+0) everywhere. Quantize replaces codes and scales as a whole and gives
// the strong guarantee: on an exception (a NaN into a format without NaN, ...) the tensor is unchanged.
// Const member functions are safe to call from several threads.
#pragma once

#include "io/error.hpp"
#include "formats/quantizer.hpp"
#include "sim/tensor/packing.hpp"
#include "sim/tensor/shape.hpp"
#include "sim/tensor/tensor_policy.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace bitsim::sim {

class TensorError : public bitsim::Error {
 public:
  using Error::Error;
};

// The scale of one group.
struct GroupScale {
  double scale = 1;             // the multiplier s_g as the nearest double (NaN for a NaN MX block)
  std::int32_t exponent = 0;    // pow2, mx: s_g = 2^exponent exactly (0 for a NaN MX block)
  std::int64_t zero_point = 0;  // affine: z_g, an integer code value in [qmin, qmax]
  std::uint8_t e8m0 = 127;      // mx: the stored E8M0 code, exponent + 127 (0xFF = NaN)
  bool is_nan = false;          // mx: the block held a NaN or an infinity
};

namespace detail {

// How flat element indices map to scale groups.
struct GroupLayout {
  enum class Kind { none, whole, axis, blocks };
  Kind kind = Kind::none;
  std::int64_t inner = 1, dim = 1;                      // axis: stride and length of the axis
  std::int64_t row = 1, block = 1, blocks_per_row = 1;  // blocks: last-axis length, block length
  std::int64_t groups = 0;

  std::int64_t group_of(std::int64_t i) const {
    switch (kind) {
      case Kind::none: return -1;
      case Kind::whole: return 0;
      case Kind::axis: return (i / inner) % dim;
      case Kind::blocks: return (i / row) * blocks_per_row + (i % row) / block;
    }
    return -1;
  }
  // Calls f(group, start, length) for the maximal runs of consecutive elements of one group that
  // cover [first, first + count), in order. Divisions only at the start: runs of one element (a scale
  // per index of the last axis) stay cheap.
  template <class F> void for_each_run(std::int64_t first, std::int64_t count, F&& f) const {
    if (count <= 0) return;
    const std::int64_t end = first + count;
    switch (kind) {
      case Kind::none: f(std::int64_t{-1}, first, count); return;
      case Kind::whole: f(std::int64_t{0}, first, count); return;
      case Kind::axis: {
        std::int64_t g = (first / inner) % dim, stop = (first / inner + 1) * inner;
        for (std::int64_t pos = first; pos < end; stop += inner) {
          const std::int64_t e = std::min(stop, end);
          f(g, pos, e - pos);
          pos = e;
          if (++g == dim) g = 0;
        }
        return;
      }
      case Kind::blocks: {
        // Group ids are consecutive: the block after the last block of a row is the next row's first.
        std::int64_t row_start = first / row * row, b = (first - row_start) / block;
        std::int64_t g = first / row * blocks_per_row + b;
        for (std::int64_t pos = first; pos < end; ++g) {
          const std::int64_t stop = row_start + std::min((b + 1) * block, row), e = std::min(stop, end);
          f(g, pos, e - pos);
          pos = e;
          if (stop == row_start + row) {
            row_start += row;
            b = 0;
          } else {
            ++b;
          }
        }
        return;
      }
    }
  }
};

}  // namespace detail

class TensorView;

class Tensor {
 public:
  Tensor() : Tensor(Shape{}, TensorPolicy{}) {}  // a scalar fp32 zero
  // Throws TensorError when the policy's axis is not an axis of `shape`, QuantizeError for a rounding
  // the format does not allow (non-rne on Graham formats, sr_bits outside 1..32).
  Tensor(Shape shape, TensorPolicy policy, formats::RoundingSpec rounding = {}, std::uint64_t seed = 0);

  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  const TensorPolicy& policy() const { return policy_; }
  const formats::Format& format() const { return policy_.format(); }  // the format of the codes
  formats::RoundingSpec rounding() const { return rounding_; }
  std::uint64_t seed() const { return seed_; }
  void set_seed(std::uint64_t seed) { seed_ = seed; }

  // ---- quantize: x has numel() elements, row-major ----------------------------------------------
  // Stochastic rounding takes element i's word from Philox (seed(), word_offset + i); other modes
  // ignore word_offset. Throws TensorError for a size mismatch, QuantizeError (naming the element and
  // its index) for a value the format cannot take.
  void quantize(std::span<const float> x, std::uint64_t word_offset = 0);
  void quantize(std::span<const double> x, std::uint64_t word_offset = 0);
  // The same with explicit random words (one per element, words[i] for element i; ignored unless sr).
  void quantize(std::span<const float> x, std::span<const std::uint32_t> words);
  void quantize(std::span<const double> x, std::span<const std::uint32_t> words);

  // ---- decode -------------------------------------------------------------------------------------
  // out has numel() elements (else TensorError).
  void decode(std::span<float> out) const;
  void decode(std::span<double> out) const;
  // Elements [first, first + out.size()) in flat order.
  void decode_range(std::int64_t first, std::span<float> out) const;
  void decode_range(std::int64_t first, std::span<double> out) const;
  // quantize(in) then decode(out); `out` may be `in`.
  void quantize_decode(std::span<const float> in, std::span<float> out, std::uint64_t word_offset = 0);
  void quantize_decode(std::span<const double> in, std::span<double> out, std::uint64_t word_offset = 0);
  // x replaced by quantize_decode(x, x)'s values, bit for bit. Scaled and MX policies of float and
  // fixed formats take one pass over the values (scales, element rounding, scales back) without
  // forming codes: what a rounding policy needs. The tensor's codes and scales are then unspecified
  // (it is the caller's scratch).
  void round_values(std::span<float> x, std::uint64_t word_offset = 0);

  // ---- elements -----------------------------------------------------------------------------------
  double value(std::int64_t flat) const;
  double value(std::initializer_list<std::int64_t> index) const { return value(shape_.offset(index)); }
  // The stored code; empty for a zero of a Graham log format or graham_O4 (which has no code).
  std::optional<std::uint64_t> code(std::int64_t flat) const;
  std::optional<std::uint64_t> code(std::initializer_list<std::int64_t> index) const { return code(shape_.offset(index)); }
  // Overwrites one code (e.g. loaded from a hardware dump); scales are unchanged. Throws PackingError
  // for a code wider than the format, QuantizeError for a code the format does not use.
  void set_code(std::int64_t flat, std::uint64_t code);

  // ---- scales -------------------------------------------------------------------------------------
  // Groups: 0 (elementwise), 1 (per tensor), shape[axis] (per axis), rows * ceil(last / block) (mx,
  // row-major over (row, block)).
  std::int64_t num_groups() const { return layout_.groups; }
  std::int64_t group_of(std::int64_t flat) const { return layout_.group_of(flat); }
  GroupScale group_scale(std::int64_t group) const;
  std::span<const std::uint8_t> e8m0_scales() const { return scales_.e8m0; }  // mx: one code per block

  // ---- storage and views --------------------------------------------------------------------------
  const PackedCodes& codes() const { return codes_; }
  // Graham log formats and graham_O4: bit i is 1 where element i is a zero without code (its stored
  // code is then 0 for +0 and the sign bit for -0). Null for every other format.
  const PackedCodes* zero_mask() const { return zero_mask_ ? &*zero_mask_ : nullptr; }
  // The quantizer that rounds elements (for affine: the rounding to integers, fixed(i=52,f=0)).
  const formats::Quantizer& element_quantizer() const { return *round_q_; }

  // Read-only views without copies; a view must not outlive its tensor (like std::span).
  TensorView view() const;
  TensorView operator[](std::int64_t index) const;  // one index of the first axis (one sample)

 private:
  template <class T> void quantize_impl(std::span<const T> x, const formats::PhiloxWords* rng, std::uint64_t offset,
                                        std::span<const std::uint32_t> words);
  template <class T> void decode_impl(std::int64_t first, std::span<T> out) const;

  // Every group's scale (step 1 of quantize), from the groups' statistics.
  struct GroupScales {
    std::vector<std::int32_t> exponent;    // pow2
    std::vector<double> scale;             // real, affine
    std::vector<std::int64_t> zero_point;  // affine
    std::vector<std::uint8_t> e8m0;        // mx
    // pow2 and mx groups whose x / 2^k may fall below the normal doubles, where the division would
    // round: their tiny elements are rounded from the exact quotient by the golden path (each_exact).
    std::vector<std::uint8_t> exact_risk;
    bool any_risk = false;
  };
  template <class T> GroupScales scales_of(std::span<const T> x) const;
  template <class T> void scaled_inputs(const GroupScales& s, const T* x, std::int64_t c0, std::int64_t len, double* y) const;
  template <class T, class F>
  void each_exact(const GroupScales& s, const T* x, std::int64_t c0, std::int64_t len, const double* y, const std::uint32_t* w,
                  F&& f) const;
  template <class T> void scale_back(const GroupScales& s, std::int64_t c0, std::int64_t len, const double* d, T* o) const;

  Shape shape_;
  TensorPolicy policy_;
  formats::RoundingSpec rounding_;
  std::uint64_t seed_ = 0;
  std::shared_ptr<const formats::Quantizer> round_q_;  // rounds elements
  std::shared_ptr<const formats::Quantizer> code_q_;   // decodes codes (same object except for affine)
  detail::GroupLayout layout_;
  double largest_ = 0;                     // scaled: largest finite value L of the format
  std::optional<std::uint64_t> nan_code_;  // mx: the element's NaN code, if it has one
  bool codeless_zero_ = false;             // Graham log / O4: zero has no code

  PackedCodes codes_;
  std::optional<PackedCodes> zero_mask_;
  GroupScales scales_;
};

// A contiguous part of a tensor selected by leading indices (a sample, a channel of a sample, ...):
// shares the tensor's codes and scales, copies nothing.
class TensorView {
 public:
  TensorView(const Tensor& t, std::int64_t first, Shape shape) : t_(&t), first_(first), shape_(shape) {}

  const Tensor& tensor() const { return *t_; }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t offset() const { return first_; }  // flat index of the view's first element in the tensor

  void decode(std::span<float> out) const { check(out.size()); t_->decode_range(first_, out); }
  void decode(std::span<double> out) const { check(out.size()); t_->decode_range(first_, out); }
  double value(std::int64_t flat) const { return t_->value(first_ + checked(flat)); }
  std::optional<std::uint64_t> code(std::int64_t flat) const { return t_->code(first_ + checked(flat)); }
  TensorView operator[](std::int64_t index) const {
    const Shape sub = shape_.drop_first();
    if (index < 0 || index >= shape_[0]) throw ShapeError("view index out of range");
    return TensorView(*t_, first_ + index * sub.numel(), sub);
  }

 private:
  void check(std::size_t n) const {
    if (n != static_cast<std::size_t>(numel())) throw TensorError("view decode: output size differs from the view's");
  }
  std::int64_t checked(std::int64_t i) const {
    if (i < 0 || i >= numel()) throw ShapeError("view element index out of range");
    return i;
  }
  const Tensor* t_;
  std::int64_t first_;
  Shape shape_;
};

}  // namespace bitsim::sim
