// The quantization functions of WAGEUBN (Yang et al. 2019, "Training high-performance and large-scale
// deep neural networks with full 8-bit integers"), as the official code (yang-yk/wageubn, Quantize.py)
// computes them. Notation: k bits, d(k) = 2^(1-k), round = nearest, ties to even.
//
//   R(x)      = 2^n with n = round(log2 max|x|): a per-tensor power-of-two scale. log2 of a float is
//               never exactly halfway between integers (2^(n+1/2) is irrational), so n is exact here:
//               max|x| = f 2^e with f in [1/2, 1) gives n = e when 2 f^2 >= 1, else e - 1 (f^2 in
//               double is exact). The reference evaluates ln(m)/ln(2) in fp32, which can differ for m
//               within a few ulps of 2^(n+1/2).
//   direct    Q(x, k) = round(x 2^(k-1)) / 2^(k-1): fixed point with k-1 fraction bits. clip none: no
//             bound on the integer part (the reference code's W, A, BN and momentum paths); unit:
//             then clamped to +-(1 - d(k)) (the paper's clip, a true k-bit integer); pm1: clamped to
//             [-1, 1].
//   shift     SQ(x, k) = R(x) clip(Q(x / R(x), k)) (errors E1). clip unit (default, the paper): k-bit
//             integers -(2^(k-1)-1)..2^(k-1)-1 times R d(k); pm1 (the official code's [-1, 1]) lets
//             +-2^(k-1) through, which needs k+1 bits.
//   flag      E2 of the official code: s = R(x) d(k), u = x / s; |u| >= 1: sign(u) min(round(|u|),
//             2^(k-1) - 1); |u| < 1: sign(u) min(Q(|u|, k), 1); y = s * that. k bits of payload plus a
//             flag bit that says whether the payload counts units of s or of s d(k) (the paper's "E2
//             with a flag bit"). Values with |u| > 2^(k-1) - 1/2 saturate (the largest |x| is up to
//             sqrt(2) R, i.e. |u| up to 2^(k-1) sqrt(2)).
//   constant  CQ(x) of the weight gradients G: t = Q(g x / R(x), 32) with g = gscale (a power of two,
//             2^(k-1) by default: the "dynamic range"); t = sign(t) sr(|t|), sr(a) = floor(a) + 1 with
//             probability frac(a), else floor(a); t = clamp(t, -(g - 1), g - 1); y = t / 2^(c-1), c =
//             const_bits (15 in the reference, i.e. y = t 2^-14): the result no longer depends on the
//             magnitude of x. The uniform number is the 32-bit Philox word w of the element: round up
//             when w < frac(a) 2^32 (frac(a) lies on the 2^-31 grid, so this is exact and P(up) =
//             frac(a) exactly). The reference's formula floor(a) + (sign(frac - r) + 1) / 2 gives a + 1/2
//             when frac equals its uniform r: that off-grid case cannot happen here. With nearest
//             rounding instead (an ablation), round(|t|) ties to even.
//
// All arithmetic is fp32 and exact: scaling by a power of two, rounding to an integer and clamping lose
// nothing, and every result is a float (except that products smaller than 2^-126 follow float's
// subnormals). An all-zero tensor stays zero (the reference would divide by R = 0). A NaN or infinity
// is a formats::QuantizeError naming its first element; so is a tensor whose R would overflow float.
// Elements are independent given R, so the split over `threads` never changes a result.
#pragma once

#include "sim/methods/loops.hpp"
#include "sim/nn/tensor_scale.hpp"

#include "formats/random_words.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace bitsim::sim::methods {

using nn::PowerOfTwoScale;

enum class WageKind { direct, shift, flag, constant };
enum class WageClip { none, unit, pm1 };

struct WageSpec {
  WageKind kind = WageKind::direct;
  int bits = 8;                 // k: 1..32 (direct), 2..24 (shift, flag, constant)
  WageClip clip = WageClip::none;  // direct and shift (use WageSpec::of for shift's default, unit)
  int const_bits = 15;          // constant: y = t / 2^(const_bits - 1); 1..60
  std::int64_t gscale = 0;      // constant: 0 means 2^(bits-1); else a power of two in 2..2^24
  bool operator==(const WageSpec&) const = default;

  // gscale with the default resolved.
  std::int64_t dynamic_range() const { return gscale > 0 ? gscale : std::int64_t{1} << (bits - 1); }
  // Throws formats::FormatError naming the bad field.
  void validate() const;
  // The config spelling, fields that differ from the kind's defaults only, in the order bits, clip,
  // const_bits, gscale: "direct(bits=8)", "direct(bits=8,clip=unit)", "shift(bits=8)" (clip unit is
  // shift's default), "shift(bits=8,clip=pm1)", "flag(bits=8)", "constant(bits=8)",
  // "constant(bits=8,gscale=32)", "constant(bits=8,const_bits=12)". bits is always written.
  std::string text() const;
  // A spec of `kind` with `bits` and that kind's defaults (shift: clip unit; others: clip none).
  static WageSpec of(WageKind kind, int bits);
};

const char* wage_kind_name(WageKind k);
const char* wage_clip_name(WageClip c);

// What a quantizer did (tensor_scale.hpp): for the scaled kinds (shift, flag, constant) the exponent n
// of R(x) = 2^n, or scaled = false for an all-zero tensor (and always for direct).

// max|x| over x; throws formats::QuantizeError("element i: ...") naming the first non-finite element.
float wage_max_abs(std::span<const float> x, int threads = 1);
// n = round(log2 m) for a finite m > 0 (exact, see above).
int round_log2(float m);

// Applies `spec` to x in place. `words` (element i uses words->word(i)) is needed by constant with
// stochastic rounding; `stochastic` is only allowed for constant.
// `loops` (loops.hpp): the vector loops of wageubn_loops.hpp, or the scalar reference loops.
PowerOfTwoScale wage_quantize(std::span<float> x, const WageSpec& spec, bool stochastic, const formats::PhiloxWords* words,
                              int threads = 1, Loops loops = Loops::vector);

}  // namespace bitsim::sim::methods
