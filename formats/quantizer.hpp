// The fast path: a format compiled with a rounding request into hoisted constants, applied to single
// values and to contiguous float/double arrays. Results are bit-identical to the golden path
// (golden.hpp), which the tests check exhaustively and on adversarial and random inputs.
//
// Array kernels are chosen once per call (format family x rounding mode) and run a branch-free,
// vectorizable loop; nothing is dispatched per element.
//
// Array results are values of the input type T. An array call requires every value of the format
// to be exactly representable in T (true for all formats up to fp32 with float arrays, up to fp64
// with double arrays); otherwise it throws QuantizeError naming the format. The scalar quantize()
// serves every format: it uses the fast kernel when the format fits a double and the golden path
// otherwise (formats wider than double, fixed formats of more than 53 bits, Graham formats with more
// than 4096 indices).
#pragma once

#include "formats/format.hpp"
#include "formats/random_words.hpp"
#include "formats/rounding.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace bitsim::formats {

// One quantized value.
struct Quantized {
  std::optional<std::uint64_t> code;  // bit pattern; empty for Graham's +-0 ("none")
  double value = 0;                   // exact value as the nearest double (+-inf beyond its range)
  std::uint8_t flags = 0;             // flag:: bits
};

class Quantizer {
 public:
  // Throws QuantizeError for a rounding the format does not allow (non-rne on Graham formats) or
  // sr_bits outside 1..32.
  explicit Quantizer(const Format& format, RoundingSpec rounding = {});
  ~Quantizer();
  Quantizer(Quantizer&&) noexcept;
  Quantizer& operator=(Quantizer&&) noexcept;

  const Format& format() const { return format_; }
  RoundingSpec rounding() const { return rounding_; }
  // Whether arrays of float / double can be quantized (every value of the format exact in T).
  bool supports_float_arrays() const;
  bool supports_double_arrays() const;
  // Whether scalar quantize() runs the fast kernel (false: golden path, exact but slow).
  bool scalar_is_fast() const;

  // One element; `word` is its random word for sr. Throws QuantizeError for inputs the format cannot
  // take (NaN into a format without NaN; Inf into a wrapping fixed format). Codes wider than 64 bits
  // (formats wider than double) are not representable here: use golden_quantize for those.
  Quantized quantize(double x, std::uint32_t word = 0) const;

  // out[j] = value of quantize(in[j], words[j]); `words` must hold in.size() words when the mode
  // is sr and is ignored otherwise. `in` and `out` may be the same array. Throws QuantizeError naming
  // the first bad element after processing (that element's output is NaN).
  void quantize(std::span<const float> in, std::span<float> out, std::span<const std::uint32_t> words = {}) const;
  void quantize(std::span<const double> in, std::span<double> out, std::span<const std::uint32_t> words = {}) const;
  // Stochastic rounding with Philox words: element j uses rng.word(first_index + j).
  void quantize(std::span<const float> in, std::span<float> out, const PhiloxWords& rng, std::uint64_t first_index) const;
  void quantize(std::span<const double> in, std::span<double> out, const PhiloxWords& rng, std::uint64_t first_index) const;

  // Codes of the rounded values (width <= 64). Graham formats have no code for +-0: encoding a zero
  // throws QuantizeError.
  void encode(std::span<const float> in, std::span<std::uint64_t> codes, std::span<const std::uint32_t> words = {}) const;
  void encode(std::span<const double> in, std::span<std::uint64_t> codes, std::span<const std::uint32_t> words = {}) const;

  // Value of a code as the nearest double (NaN codes give NaN). Throws QuantizeError for a code
  // outside the format's width or one the format does not use.
  double decode(std::uint64_t code) const;
  void decode(std::span<const std::uint64_t> codes, std::span<double> out) const;
  void decode(std::span<const std::uint64_t> codes, std::span<float> out) const;  // needs float arrays

  struct Impl;

 private:
  Format format_;
  RoundingSpec rounding_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitsim::formats
