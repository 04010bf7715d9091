// Independent oracles for the golden arithmetic of hw/arith.hpp:
//  - GNU MPFR, emulating a small float format the documented way (precision m+1, the exponent range
//    limited to the format's subnormals, mpfr_check_range + mpfr_subnormalize), for rne/rtz/rup/rdn;
//    rna (which MPFR's arithmetic does not offer) from a 1200-bit truncated result and its ternary
//    value, rounded to the format's grid by integer rounding of the scaled value;
//  - the x86 CPU itself (SSE scalar instructions under MXCSR: rounding, DAZ, FTZ, flags), for binary32
//    and binary64 with the x86 NaN convention.
#pragma once

#include "hw/arith.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace bitsim::test {

struct OracleResult {
  formats::BigInt code;
  std::uint8_t flags = 0;
};

// MPFR's answer for operands of a float format with the canonical NaN convention (ArithOptions::nan =
// canonical), any rounding but sr, either tininess, with or without DAZ/FTZ. Ops: add sub mul div fma
// sqrt (mpfr_add ... mpfr_sqrt), min max (mpfr_min/max), the comparisons (mpfr_cmp, mpfr_unordered_p),
// convert (`to`: a float format, by mpfr_set; a fixed format, by mpfr_rint). Formats up to 32 bits.
OracleResult mpfr_oracle(formats::Op op, const formats::Format& format, const std::vector<formats::BigInt>& operands,
                         const formats::ArithOptions& options, const formats::Format* to = nullptr);

// The CPU's answer for fp32 (width 32) or fp64 codes with MXCSR set from `options` (rounding rne, rtz,
// rup or rdn; daz; ftz); nan must be x86 and tininess after. Ops: add sub mul div sqrt min max, and fma
// (VFMADD132, a * b + c) where the build has FMA instructions (cpu_has_fma()).
OracleResult cpu_oracle(formats::Op op, int width, const std::vector<std::uint64_t>& operands,
                        const formats::ArithOptions& options);

inline constexpr bool cpu_has_fma() {
#if defined(__FMA__)
  return true;
#else
  return false;
#endif
}

}  // namespace bitsim::test
