// The fast path of the golden arithmetic (arith.hpp): every operation on float and fixed formats up to 64
// bits wide, computed the way Berkeley SoftFloat computes, in integer arithmetic on the significands, with
// no Rational and no heap allocation per operation.
//
// How: operands are unpacked into a sign, an exponent and an integer significand. An operation forms
// its exact result as a 128-bit significand S normalised to bit 127, an exponent E and a sticky bit:
// the exact value v lies in [S, S+1) x 2^E, strictly inside when sticky is set (a product is exact in
// 128 bits; a sum aligns both terms at bit 126 and jams what the smaller loses into sticky; a quotient
// and a square root are developed to as many bits as the rounding needs, their remainder giving
// sticky). One rounding routine per family (float, fixed) then rounds (S, E, sticky) into the result
// format with docs/spec/formats.md's rules, all modes incl. sr, tininess, flush-to-zero, overflow and
// special-value policies. Why that is exact: every decision (the midpoint, an sr threshold of up to 32
// bits, 2^emin) lies at least 33 bits above E, and S keeps 128 bits, so (S, sticky) decides as the exact
// value would.
//
// The narrow lane comes first: for float formats of at most 26 fraction bits (fp4 to fp32, bf16, tf32),
// add, sub, mul, div, sqrt, fma and float conversions of finite non-zero operands compute in one 64-bit
// word and round the result there (a normal one with masks), as SoftFloat's fp16 and fp32 functions do;
// every other operand set continues in the 128-bit lane (arith_fast.cpp says why one word decides
// exactly).
//
// A FastArith is prepared once for an operation, format(s) and options (parsing, layout and the NaN
// codes), then called per operand set. Cases it does not cover are reported by supports() (formats
// wider than 64 bits, Graham formats) or, per call, by FastResult::golden (fma on 64-bit fixed formats,
// a fixed-point result whose quantum lies more than ~94 bits below an inexact value); complete() and
// run() then ask arith_golden, the rational reference. tests/test_arith_fast.cpp compares both paths.
#pragma once

#include "hw/arith.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace bitsim::formats {

// The tininess and flush-to-zero rules, shared by the fast and the golden path. `flags` are the flags
// of the rounding into the format (underflow there means inexact and tiny after rounding, formats.md),
// `tiny_before` whether the exact non-zero value is below the smallest normal, `nonzero_result`
// whether the rounded value is non-zero. Returns the flags under options.tininess and whether
// options.ftz replaces the result by zero of its sign (those flags then include underflow + inexact):
// x86 MXCSR.FTZ flushes every tiny result, exact or not, even one that rounded up to the smallest normal.
struct TininessOutcome {
  std::uint8_t flags;
  bool flush;
};
TininessOutcome apply_tininess(std::uint8_t flags, bool tiny_before, bool nonzero_result, const ArithOptions& options);

// One result: its code (compare: 0 or 1) and flags; `golden` set when this operand set needs the
// golden path (code and flags are then meaningless).
struct FastResult {
  std::uint64_t code = 0;
  std::uint8_t flags = 0;
  bool golden = false;
};

// The unpacked layout of a float or fixed format (internal to the fast path; public so FastArith can
// hold it by value).
struct FastLayout {
  bool is_float = true;
  int width = 0;
  // float
  int e = 0, m = 0;
  std::int64_t bias = 0, emin = 0;
  std::uint64_t sign_bit = 0, frac_mask = 0, top_field = 0, max_index = 0, nan_code = 0, inf_index = 0;
  Special special = Special::ieee;
  FloatOverflow float_overflow = FloatOverflow::inf;
  bool subnormals = true, has_nan = false;
  bool negative_zero = true;  // false for fnuz and inuz, whose would-be -0 code is their only NaN
  // The codes that are finite normal numbers on sight: fields 1 .. plain_fields with an index (code
  // without its sign) below plain_index_end (the narrow lane reads only these).
  std::uint64_t plain_fields = 0, plain_index_end = 0;
  // fixed
  std::int64_t f = 0;  // fraction bits (value = code x 2^-f)
  bool is_signed = true;
  FixedOverflow fixed_overflow = FixedOverflow::saturate;
};

class FastArith {
 public:
  // Whether the fast path covers this operation, format(s) and options (every operand set of it, but
  // for FastResult::golden): binary formats up to 64 bits with valid options. `to` is convert's
  // destination format.
  static bool supports(Op op, const Format& format, const ArithOptions& options, const Format* to = nullptr);
  // Requires supports(...).
  FastArith(Op op, const Format& format, const ArithOptions& options, const Format* to = nullptr);

  // Operand codes must be below 2^width of the operand format; op_arity(op) of them are read.
  FastResult operator()(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0, std::uint32_t word = 0) const;
  // The same, final: an operand set the fast path does not cover is answered by arith_golden.
  FastResult complete(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0, std::uint32_t word = 0) const;

  // A batch: element i takes a[i], b[i], c[i] (b, c may be null when the operation does not read them)
  // and words[i] (null: word 0). Each result is complete()'s. Writes codes[i] and flags[i] (flags may be
  // null).
  void run(std::size_t n, const std::uint64_t* a, const std::uint64_t* b, const std::uint64_t* c,
           const std::uint32_t* words, std::uint64_t* codes, std::uint8_t* flags) const;

  Op op() const { return op_; }

  // operator() without the narrow lane: every operand set through the 128-bit lane (tests compare the
  // two lanes on many more operand sets than the golden path could answer).
  FastResult wide(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0, std::uint32_t word = 0) const;
  // Whether operator() tries the narrow lane first.
  bool narrow() const { return narrow_ != nullptr; }

 private:
  // The narrow lane (arith_fast.cpp): float formats of at most 26 fraction bits, finite non-zero
  // operands, in one 64-bit word; null where it does not apply. It hands other operand sets to wide().
  using Lane = FastResult (*)(const FastArith&, std::uint64_t, std::uint64_t, std::uint64_t, std::uint32_t);
  friend struct NarrowLane;
  static Lane narrow_lane(Op op, const FastLayout& in, const FastLayout& out, const ArithOptions& options);

  Op op_;
  ArithOptions options_;
  FastLayout in_, out_;  // operand and result format (the same but for convert)
  Format format_, to_;   // for the golden fallback
  Lane narrow_ = nullptr;
};

// The fast path behind arith(): the full ArithResult for add, sub, mul, div, sqrt and fma of finite
// non-zero operands (the unrounded value from exact rationals of the operands), nullopt elsewhere.
std::optional<ArithResult> arith_fast(Op op, const Format& format, const std::vector<BigInt>& operands,
                                      const ArithOptions& options, std::uint32_t word);

}  // namespace bitsim::formats
