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

#include "formats/arith.hpp"

#include <optional>

namespace bitsim::formats {

std::optional<ArithResult> arith_fast(Op op, const Format& format, const std::vector<BigInt>& operands,
                                      const ArithOptions& options, std::uint32_t word);

}  // namespace bitsim::formats
