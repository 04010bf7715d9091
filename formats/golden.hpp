// The golden path: quantize and decode written directly from docs/spec/formats.md on exact
// arithmetic (Boost.Multiprecision integers and rationals). It is slow and meant to be obviously
// correct; the fast kernels in quantizer.hpp are tested against it. It also serves formats wider
// than double (float up to e=15, m=112) whose codes do not fit 64 bits.
#pragma once

#include "formats/exact_number.hpp"
#include "formats/format.hpp"
#include "formats/rounding.hpp"

#include <optional>

namespace bitsim::formats {

enum class ValueKind { finite, infinite, nan };


// One quantized element.
struct GoldenResult {
  ValueKind kind = ValueKind::finite;
  bool negative = false;             // sign of the value (false for NaN, which is canonical)
  std::optional<BigInt> code;        // the bit pattern; empty for Graham's +-0 ("none")
  std::optional<Rational> exact;     // the exact magnitude when it is rational (finite values only)
  double value = 0;                  // the value as the nearest double (ties to even), +-inf beyond range
  std::uint8_t flags = 0;            // flag:: bits
};

// An exact input value: a NaN, a signed infinity, or a signed rational (zero keeps its sign).
struct ExactInput {
  ValueKind kind = ValueKind::finite;
  bool negative = false;
  Rational magnitude;  // finite values only, >= 0

  static ExactInput from_double(double x);
  static ExactInput from_rational(const Rational& v, bool negative_zero = false);
  bool is_nan() const { return kind == ValueKind::nan; }
  bool is_inf() const { return kind == ValueKind::infinite; }
  bool is_zero() const { return kind == ValueKind::finite && magnitude == 0; }
  Rational signed_value() const { return negative ? Rational(-magnitude) : magnitude; }
};

// Quantizes an exact value (e.g. an exact sum of products) with the given rounding; as below.
GoldenResult golden_quantize_exact(const Format& format, const ExactInput& x, RoundingSpec rounding, std::uint32_t word = 0);

// Quantizes x (a double, taken exactly) with the given rounding; `word` is the random word of this
// element for sr. Throws QuantizeError for inputs the format cannot take and for a rounding mode
// the format does not allow (Graham formats take only rne).
GoldenResult golden_quantize(const Format& format, double x, RoundingSpec rounding, std::uint32_t word = 0);

// Decodes a code of the format (code < 2^width). Graham codes decode to their non-zero values.
GoldenResult golden_decode(const Format& format, const BigInt& code);

// Facts about a float or fixed format, exact (for `bitsim formats describe`).
struct FormatFacts {
  std::optional<Rational> smallest_subnormal;  // floats with subnormals; fixed: the quantum
  std::optional<Rational> smallest_normal;     // floats with normal numbers
  Rational largest_finite;
  std::optional<Rational> epsilon;             // floats with normal numbers: 2^-m; fixed: the quantum
  std::optional<Rational> most_negative;       // fixed: value of the lowest code
  std::optional<BigInt> inf_code;              // floats with infinities: the code of +Inf
  std::optional<BigInt> nan_code;              // floats with a NaN: the canonical NaN's code
};
FormatFacts golden_facts(const Format& format);

// For Graham formats: the nearest double of 2^(num/den) for an integer fraction, and of sqrt(r) - 1;
// exposed for tests. Computed by bisection over doubles with exact comparisons.
double golden_nearest_double_pow2(const BigInt& num, const BigInt& den);

}  // namespace bitsim::formats
