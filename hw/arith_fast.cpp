// The double-based fast path of the golden arithmetic (arith_fast.hpp).
#include "hw/arith_fast.hpp"

#include "formats/quantizer.hpp"

#include <bit>
#include <cfenv>
#include <cmath>
#include <memory>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace bitsim::formats {

namespace {

struct CachedQuantizer {
  Format format;
  RoundingSpec rounding;
  Quantizer quantizer;
};

// Quantizers per thread, most recently created last (a bench calls with the same few formats).
const Quantizer& quantizer_for(const Format& format, RoundingSpec rounding) {
  thread_local std::vector<std::unique_ptr<CachedQuantizer>> cache;
  for (const auto& c : cache)
    if (c->rounding == rounding && c->format == format) return c->quantizer;
  if (cache.size() >= 16) cache.erase(cache.begin());
  cache.push_back(std::make_unique<CachedQuantizer>(CachedQuantizer{format, rounding, Quantizer(format, rounding)}));
  return cache.back()->quantizer;
}

// Whether every value, product, quotient and error term of the format stays a normal double, and the
// format's precision leaves the two (sr: R+1) guard bits round-to-odd needs.
bool format_qualifies(const FloatFormat& f, const RoundingSpec& r) {
  if (f.e > 11 || f.m > 50) return false;
  if (r.mode == Rounding::sr && f.m + 1 + r.sr_bits > 52) return false;
  const std::int64_t lowest = f.emin() - f.m;                        // smallest subnormal's exponent
  const std::int64_t highest = (std::int64_t(1) << f.e) - f.bias;  // above the largest binade
  return lowest >= -400 && highest <= 400;
}

// A finite non-zero operand as a double; nullopt for zeros (also DAZ-flushed subnormals), Inf and NaN.
std::optional<double> operand_value(const FloatFormat& f, std::uint64_t code, bool daz) {
  const int w = f.width();
  const std::uint64_t sign = std::uint64_t(1) << (w - 1);
  if (code >= (sign << 1)) return std::nullopt;  // out of range: the golden path reports it
  const std::uint64_t idx = code & (sign - 1);
  const std::uint64_t field = idx >> f.m, frac = idx & ((std::uint64_t(1) << f.m) - 1);
  const std::uint64_t top = (std::uint64_t(1) << f.e) - 1;
  switch (f.special) {
    case Special::ieee:
      if (field == top) return std::nullopt;
      break;
    case Special::fn:  // all ones is NaN; with m = 0 the whole all-ones exponent
      if (f.m == 0 ? field == top : idx == sign - 1) return std::nullopt;
      break;
    case Special::fnuz:
      if (code == sign) return std::nullopt;
      break;
    case Special::none: break;
  }
  if (idx == 0) return std::nullopt;
  if (field == 0 && daz) return std::nullopt;
  const double magnitude = field == 0 ? std::ldexp(static_cast<double>(frac), static_cast<int>(f.emin() - f.m))
                                      : std::ldexp(static_cast<double>((std::uint64_t(1) << f.m) | frac),
                                                   static_cast<int>(static_cast<std::int64_t>(field) - f.bias - f.m));
  return (code & sign) ? -magnitude : magnitude;
}

// Round-to-odd at 53 bits of x = s + (an error whose sign is err_sign), s = RN(x) != 0: the truncation of
// x toward zero with its last bit forced to 1.
double round_to_odd(double s, int err_sign) {
  if (err_sign == 0) return s;
  const auto bits = std::bit_cast<std::uint64_t>(std::fabs(s));
  const bool above = (err_sign > 0) == (s > 0);  // |x| > |s|
  const std::uint64_t truncated = above ? bits : bits - 1;
  return std::copysign(std::bit_cast<double>(truncated | 1), s);
}

int sign_of(double v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }

// The error terms above are exact only in the default floating-point environment. A host program (a
// simulator loading libbitsim_c) may have changed it; then the golden path answers.
bool default_fp_environment() {
  if (std::fegetround() != FE_TONEAREST) return false;
#if defined(__SSE__)
  if (_mm_getcsr() & 0x8040u) return false;  // MXCSR flush-to-zero (bit 15) or denormals-are-zero (bit 6)
#endif
  return true;
}

}  // namespace

TininessOutcome apply_tininess(std::uint8_t flags, bool tiny_before, bool nonzero_result, const ArithOptions& o) {
  // Tiny after rounding: the rounding flagged underflow (it does when inexact), or the value is exact and
  // so is its own rounding.
  const bool tiny_after = (flags & flag::underflow) || (!(flags & flag::inexact) && tiny_before);
  const bool before = o.tininess == Tininess::before_rounding;
  if (before) {
    flags &= static_cast<std::uint8_t>(~flag::underflow);
    if ((flags & flag::inexact) && tiny_before) flags |= flag::underflow;
  }
  const bool flush = o.ftz && (before ? tiny_before : tiny_after) && nonzero_result;
  if (flush) flags |= flag::underflow | flag::inexact;
  return {flags, flush};
}

std::optional<ArithResult> arith_fast(Op op, const Format& format, const std::vector<BigInt>& operands,
                                      const ArithOptions& o, std::uint32_t word) {
  if (!format.is<FloatFormat>()) return std::nullopt;
  if (op != Op::add && op != Op::sub && op != Op::mul && op != Op::div && op != Op::sqrt) return std::nullopt;
  const FloatFormat& f = format.as<FloatFormat>();
  if (!format_qualifies(f, o.rounding) || !default_fp_environment()) return std::nullopt;
  double v[2];
  for (std::size_t i = 0; i < operands.size(); ++i) {
    if (operands[i] < 0 || operands[i] > BigInt(~std::uint64_t(0))) return std::nullopt;
    const auto x = operand_value(f, static_cast<std::uint64_t>(operands[i]), o.daz);
    if (!x) return std::nullopt;
    v[i] = *x;
  }
  // s = RN(exact); err_sign = sign(exact - s). The fma calls are written on purpose: each gives an exact
  // error term (a product's rounding error, a quotient's or square root's remainder).
  double s = 0;
  int err_sign = 0;
  switch (op) {
    case Op::add:
    case Op::sub: {
      const double a = v[0], b = op == Op::sub ? -v[1] : v[1];
      s = a + b;
      if (s == 0) return std::nullopt;  // exact zero: its sign rules live in the golden path
      const double bb = s - a;
      const double err = (a - (s - bb)) + (b - bb);  // TwoSum: exact
      err_sign = sign_of(err);
      break;
    }
    case Op::mul:
      s = v[0] * v[1];
      err_sign = sign_of(std::fma(v[0], v[1], -s));
      break;
    case Op::div: {
      s = v[0] / v[1];
      const double r = std::fma(-s, v[1], v[0]);  // a - s*b, exact
      err_sign = sign_of(r) * sign_of(v[1]);
      break;
    }
    default: {  // sqrt
      if (v[0] < 0) return std::nullopt;  // invalid: the golden path
      s = std::sqrt(v[0]);
      err_sign = sign_of(std::fma(-s, s, v[0]));
      break;
    }
  }
  const double stand_in = round_to_odd(s, err_sign);
  const Quantizer& q = quantizer_for(format, o.rounding);
  if (!q.scalar_is_fast()) return std::nullopt;
  const Quantized z = q.quantize(stand_in, word);

  ArithResult r;
  r.code = BigInt(*z.code);
  r.width = format.width();
  r.value = z.value;
  r.flags = z.flags;
  if (std::isnan(z.value)) {
    r.kind = ValueKind::nan;
    r.negative = (*z.code >> (r.width - 1)) & 1;
  } else {
    r.kind = std::isinf(z.value) ? ValueKind::infinite : ValueKind::finite;
    r.negative = std::signbit(z.value);
  }
  const double smallest = std::ldexp(1.0, static_cast<int>(f.emin()));
  if (r.kind == ValueKind::finite) {
    // The same tininess and flush rules as the golden path, on the stand-in: |stand-in| < 2^emin exactly
    // when |exact| < 2^emin (2^emin is a 53-bit value, and an inexact stand-in has an odd last bit).
    const TininessOutcome t = apply_tininess(z.flags, std::fabs(stand_in) < smallest, r.value != 0, o);
    r.flags = t.flags;
    if (t.flush) {
      const bool negative = r.negative && f.special != Special::fnuz;
      r.negative = negative;
      r.value = negative ? -0.0 : 0.0;
      r.code = negative ? BigInt(std::uint64_t(1) << (r.width - 1)) : BigInt(0);
    }
    r.exact_value = rational_from_double(std::fabs(r.value));
  }
  // The exact result before rounding.
  r.unrounded.negative = stand_in < 0;
  switch (op) {
    case Op::add:
    case Op::sub: {
      const Rational sum = rational_from_double(v[0]) + (op == Op::sub ? Rational(-rational_from_double(v[1]))
                                                                        : rational_from_double(v[1]));
      r.unrounded.magnitude = sum < 0 ? Rational(-sum) : sum;
      break;
    }
    case Op::mul: r.unrounded.magnitude = rational_from_double(std::fabs(v[0])) * rational_from_double(std::fabs(v[1])); break;
    case Op::div: r.unrounded.magnitude = rational_from_double(std::fabs(v[0])) / rational_from_double(std::fabs(v[1])); break;
    default:
      r.unrounded.magnitude = rational_from_double(v[0]);
      r.unrounded.is_sqrt = true;
      break;
  }
  return r;
}

}  // namespace bitsim::formats
