// The fast path of the golden arithmetic (arith.hpp): add, sub, mul, div and sqrt of finite non-zero
// operands of float formats whose values and error terms are doubles, computed in double arithmetic
// with the exact error term (TwoSum, or a remainder by fused multiply-add), rounded to odd at 53 bits,
// then rounded once into the format by the fast quantizer (quantizer.hpp).
//
// Why it is exact: the format has at most 51 significant bits (and, for sr with R random bits, at most
// 52 - R), so rounding the round-to-odd value to the format gives the same result, flags and
// tininess as rounding the exact value (the classic round-to-odd argument: no rounding boundary of the
// format lies strictly between the exact value and its odd 53-bit stand-in). Values span 2^-400 ..
// 2^400, so no product, quotient or error term leaves the normal double range.
//
// Everything else (zeros, Inf, NaN, exact-zero results, fma, fixed point, wide formats, and any call
// made while the floating-point environment is not the default one) returns nullopt and takes the
// golden path. tests/test_arith_fast.cpp compares both paths exhaustively.
#pragma once

#include "hw/arith.hpp"

#include <optional>

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

std::optional<ArithResult> arith_fast(Op op, const Format& format, const std::vector<BigInt>& operands,
                                      const ArithOptions& options, std::uint32_t word);

}  // namespace bitsim::formats
