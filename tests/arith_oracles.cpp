// The MPFR and CPU oracles of arith_oracles.hpp. Written from MPFR's manual and Intel's SDM, without
// reusing hw/arith.cpp: only golden_decode (tested elsewhere, exhaustively) turns codes into values
// and golden_quantize of an exactly representable double turns values back into codes.
#include "tests/arith_oracles.hpp"

#include "formats/golden.hpp"

#include <mpfr.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_map>
#include <stdexcept>

namespace bitsim::test {

using namespace bitsim::formats;

namespace {

// Precision of the "wide" result: enough for most results of add, sub and mul to be exact (twice the
// format's exponent span plus a margin; 1200 caps 32-bit formats). Exactness is not needed for
// correctness: every decision taken from the wide result (NaN, Inf, zero, below 2^emin, at or above a
// rna midpoint) is one a truncation toward zero to at least m+2 bits decides like the exact value.
mpfr_prec_t wide_precision(const FloatFormat& f) {
  const std::int64_t span = ((std::int64_t(1) << f.e) - f.bias) - (f.emin() - f.m);
  return static_cast<mpfr_prec_t>(std::clamp<std::int64_t>(2 * span + 2 * f.m + 16, 64, 1200));
}

// The value of every code of a format up to 16 bits, and the code of every value, from golden_decode,
// computed once per format (the oracle runs millions of times on the same few formats).
struct CodeTable {
  Format format;
  std::vector<double> values;
  std::unordered_map<std::uint64_t, std::uint64_t> codes;  // bits of a value's double -> its code
};

const CodeTable* table_for(const Format& format) {
  if (format.width() > 16) return nullptr;
  thread_local std::vector<std::unique_ptr<CodeTable>> tables;
  for (const auto& t : tables)
    if (t->format == format) return t.get();
  auto t = std::make_unique<CodeTable>();
  t->format = format;
  for (std::uint64_t c = 0; c < (std::uint64_t(1) << format.width()); ++c) {
    const double v = golden_decode(format, BigInt(c)).value;
    t->values.push_back(v);
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    if (!std::isnan(v)) t->codes.emplace(bits, c);  // the first code of a value (fnuz: +0 only)
  }
  tables.push_back(std::move(t));
  return tables.back().get();
}

struct Mpfr {
  mpfr_t v;
  explicit Mpfr(mpfr_prec_t p) { mpfr_init2(v, p); }
  ~Mpfr() { mpfr_clear(v); }
  Mpfr(const Mpfr&) = delete;
  Mpfr& operator=(const Mpfr&) = delete;
};

// Default (huge) exponent range for the scope; restores the previous one.
struct ExponentRange {
  mpfr_exp_t old_min = mpfr_get_emin(), old_max = mpfr_get_emax();
  ExponentRange(mpfr_exp_t lo, mpfr_exp_t hi) {
    mpfr_set_emin(lo);
    mpfr_set_emax(hi);
  }
  ~ExponentRange() {
    mpfr_set_emin(old_min);
    mpfr_set_emax(old_max);
  }
};

mpfr_rnd_t mpfr_mode(Rounding r) {
  switch (r) {
    case Rounding::rne: return MPFR_RNDN;
    case Rounding::rtz: return MPFR_RNDZ;
    case Rounding::rup: return MPFR_RNDU;
    case Rounding::rdn: return MPFR_RNDD;
    default: return MPFR_RNDZ;  // rna is computed from the truncated wide result
  }
}

int run(Op op, mpfr_t r, const std::vector<Mpfr*>& x, mpfr_rnd_t m) {
  switch (op) {
    case Op::add: return mpfr_add(r, x[0]->v, x[1]->v, m);
    case Op::sub: return mpfr_sub(r, x[0]->v, x[1]->v, m);
    case Op::mul: return mpfr_mul(r, x[0]->v, x[1]->v, m);
    case Op::div: return mpfr_div(r, x[0]->v, x[1]->v, m);
    case Op::fma: return mpfr_fma(r, x[0]->v, x[1]->v, x[2]->v, m);
    case Op::sqrt: return mpfr_sqrt(r, x[0]->v, m);
    case Op::convert: return mpfr_set(r, x[0]->v, m);
    default: throw std::logic_error("mpfr_oracle: unsupported op");
  }
}

BigInt code_of(const Format& format, double v) {
  if (const CodeTable* t = table_for(format)) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    if (auto it = t->codes.find(bits); it != t->codes.end()) return BigInt(it->second);
  }
  const GoldenResult g = golden_quantize(format, v, {});
  if (g.flags != 0 || !g.code) throw std::logic_error("mpfr_oracle: value not in the format");
  return *g.code;
}

// Rounds a positive value, given as its truncation `t` to the wide precision, to a multiple of 2^q, ties away
// from zero; returns the multiple as a double.
double round_away_to_grid(const mpfr_t t, long q) {
  const mpfr_prec_t p = mpfr_get_prec(t);
  Mpfr s(p), k(p), frac(p);
  mpfr_mul_2si(s.v, t, -q, MPFR_RNDN);  // exact
  mpfr_floor(k.v, s.v);
  mpfr_sub(frac.v, s.v, k.v, MPFR_RNDN);  // exact
  const int c = mpfr_cmp_d(frac.v, 0.5);
  // Below one half (the true fraction too: had it been 1/2 exactly, so would the truncation), or at or
  // above it (a truncation at 1/2 with a lost tail means the true fraction is above).
  if (c >= 0) mpfr_add_ui(k.v, k.v, 1, MPFR_RNDN);
  mpfr_mul_2si(k.v, k.v, q, MPFR_RNDN);
  return mpfr_get_d(k.v, MPFR_RNDN);
}

// Operands decoded into MPFR numbers (DAZ applied), with what the oracles need to know about NaNs.
struct Operands {
  std::vector<std::unique_ptr<Mpfr>> storage;
  std::vector<Mpfr*> x;
  bool any_nan = false, any_snan = false;
};

Operands decode_operands(const Format& format, const std::vector<BigInt>& operands, const ArithOptions& o) {
  const FloatFormat& f = format.as<FloatFormat>();
  const double smallest_normal = std::ldexp(1.0, static_cast<int>(f.emin()));
  Operands out;
  for (const BigInt& c : operands) {
    const CodeTable* table = table_for(format);
    const GoldenResult d = table ? GoldenResult{} : golden_decode(format, c);
    const double value = table ? table->values[static_cast<std::size_t>(c)] : d.value;
    auto v = std::make_unique<Mpfr>(64);
    if (std::isnan(value)) {
      mpfr_set_nan(v->v);
      out.any_nan = true;
      const BigInt frac = c & ((BigInt(1) << f.m) - 1);
      if (f.special == Special::ieee && f.m >= 1 && ((frac >> (f.m - 1)) & 1) == 0) out.any_snan = true;
    } else {
      double dv = value;
      if (o.daz && dv != 0 && std::fabs(dv) < smallest_normal) dv = std::copysign(0.0, dv);
      mpfr_set_d(v->v, dv, MPFR_RNDN);  // exact: 64 bits hold any of these values
    }
    out.x.push_back(v.get());
    out.storage.push_back(std::move(v));
  }
  return out;
}

BigInt canonical_nan_code(const Format& format) {
  return *golden_quantize(format, std::numeric_limits<double>::quiet_NaN(), {}).code;
}

// Comparisons (mpfr_cmp, mpfr_unordered_p) and min/max (mpfr_min/mpfr_max: IEEE 754-2019
// minimumNumber/maximumNumber, the canonical convention).
OracleResult mpfr_select(Op op, const Format& format, const Operands& in) {
  OracleResult out;
  mpfr_ptr a = in.x[0]->v, b = in.x[1]->v;
  if (op == Op::min || op == Op::max) {
    out.flags = in.any_snan ? flag::invalid : 0;
    if (mpfr_nan_p(a) && mpfr_nan_p(b)) {
      out.code = canonical_nan_code(format);
      return out;
    }
    Mpfr r(64);
    if (op == Op::min) mpfr_min(r.v, a, b, MPFR_RNDN);
    else mpfr_max(r.v, a, b, MPFR_RNDN);
    out.code = code_of(format, mpfr_get_d(r.v, MPFR_RNDN));
    return out;
  }
  const bool quiet = op == Op::eq || op == Op::lt_quiet || op == Op::le_quiet;
  if (mpfr_unordered_p(a, b)) {
    out.flags = (in.any_snan || !quiet) ? flag::invalid : 0;
    out.code = 0;
    return out;
  }
  const int c = mpfr_cmp(a, b);
  bool result = false;
  switch (op) {
    case Op::eq:
    case Op::eq_signaling: result = c == 0; break;
    case Op::lt:
    case Op::lt_quiet: result = c < 0; break;
    default: result = c <= 0; break;
  }
  out.code = result ? 1 : 0;
  return out;
}

// Conversion to a fixed-point format (IEEE 754 5.8, canonical convention): the value times 2^f rounded
// to an integer by mpfr_rint (mpfr_round for rna); NaN and out-of-range give invalid and, for NaN, the
// largest code, else saturation.
OracleResult mpfr_to_fixed(const FixedFormat& t, const Operands& in, Rounding mode) {
  const int w = t.width();
  const BigInt lo = t.is_signed ? BigInt(-(BigInt(1) << (w - 1))) : BigInt(0);
  const BigInt hi = t.is_signed ? (BigInt(1) << (w - 1)) - 1 : (BigInt(1) << w) - 1;
  auto code_of_integer = [&](const BigInt& k) { return k < 0 ? BigInt(k + (BigInt(1) << w)) : k; };
  OracleResult out;
  mpfr_ptr a = in.x[0]->v;
  if (mpfr_nan_p(a)) {
    out.flags = flag::invalid;
    out.code = code_of_integer(hi);
    return out;
  }
  if (mpfr_inf_p(a)) {
    out.flags = flag::invalid;
    out.code = code_of_integer(mpfr_signbit(a) ? lo : hi);
    return out;
  }
  Mpfr y(400), k(400);
  mpfr_mul_2si(y.v, a, t.f, MPFR_RNDN);  // exact
  if (mode == Rounding::rna) mpfr_round(k.v, y.v);
  else mpfr_rint(k.v, y.v, mpfr_mode(mode));
  // k is an integer below 2^400 in magnitude: its decimal digits in full.
  std::string text(200, '\0');
  mpfr_snprintf(text.data(), text.size(), "%.0Rf", k.v);
  text.resize(std::strlen(text.c_str()));
  const BigInt integer(text == "-0" ? std::string("0") : text);
  if (integer < lo || integer > hi) {
    out.flags = flag::invalid;
    out.code = code_of_integer(integer < lo ? lo : hi);
    return out;
  }
  out.flags = mpfr_equal_p(k.v, y.v) ? 0 : flag::inexact;
  out.code = code_of_integer(integer);
  return out;
}

}  // namespace

OracleResult mpfr_oracle(Op op, const Format& source, const std::vector<BigInt>& operands, const ArithOptions& o,
                         const Format* to) {
  const Operands in = decode_operands(source, operands, o);
  const Format& format = to ? *to : source;  // the result's format
  if (op_is_compare(op) || op == Op::min || op == Op::max) return mpfr_select(op, format, in);
  if (format.is<FixedFormat>()) return mpfr_to_fixed(format.as<FixedFormat>(), in, o.rounding.mode);
  const FloatFormat& f = format.as<FloatFormat>();
  const long m = f.m, emin = static_cast<long>(f.emin());
  const double smallest_normal = std::ldexp(1.0, static_cast<int>(emin));
  const GoldenResult top = golden_decode(format, BigInt(f.max_finite_index()));
  const double max_finite = top.value;
  const Rounding mode = o.rounding.mode;
  const BigInt sign_bit = BigInt(1) << (f.e + f.m);
  const std::vector<Mpfr*>& x = in.x;
  const bool any_nan = in.any_nan, any_snan = in.any_snan;
  const bool inf_times_zero = op == Op::fma && ((mpfr_inf_p(x[0]->v) && mpfr_zero_p(x[1]->v)) ||
                                                (mpfr_zero_p(x[0]->v) && mpfr_inf_p(x[1]->v)));

  // The exact (or 1200-bit truncated) result, and MPFR's exception flags for it.
  const mpfr_prec_t wide_bits = wide_precision(f);
  Mpfr wide(wide_bits);
  mpfr_clear_flags();
  const int wide_ternary = run(op, wide.v, x, MPFR_RNDZ);
  const bool nan_result = mpfr_nan_p(wide.v);
  const bool divby0 = mpfr_divby0_p();

  OracleResult out;
  if (nan_result) {
    out.flags = (any_snan || !any_nan || inf_times_zero) ? flag::invalid : 0;
    out.code = f.has_nan() ? canonical_nan_code(format) : BigInt(0);
    if (!f.has_nan()) out.flags = flag::invalid;
    return out;
  }
  const bool negative = mpfr_signbit(wide.v);
  if (mpfr_inf_p(wide.v)) {
    // An infinite exact result is delivered as formats.md delivers an infinite input: Inf only under
    // overflow=inf; else saturated (or NaN) and, unless it came from a division by zero, invalid.
    out.flags = divby0 ? flag::divide_by_zero : 0;
    if (f.overflow == FloatOverflow::inf) {
      out.code = (((BigInt(1) << f.e) - 1) << f.m) | (negative ? sign_bit : BigInt(0));
      return out;
    }
    if (!divby0) out.flags = flag::invalid;
    if (f.overflow == FloatOverflow::nan) {
      out.code = canonical_nan_code(format);
      return out;
    }
    out.code = code_of(format, negative ? -max_finite : max_finite);
    return out;
  }
  if (mpfr_zero_p(wide.v)) {
    // An exact zero: its sign follows IEEE's rules, which MPFR applies for the mode (x - x is -0 only
    // when rounding toward -Inf; rna and the nearest modes give +0).
    Mpfr z(64);
    run(op, z.v, x, mode == Rounding::rdn ? MPFR_RNDD : MPFR_RNDN);
    out.code = code_of(format, mpfr_signbit(z.v) ? -0.0 : 0.0);
    return out;
  }
  const bool wide_inexact = wide_ternary != 0;

  // u: rounded to the format's precision with an unbounded exponent range (overflow, tininess after).
  // r: rounded into the format (subnormals emulated).
  double u, r;
  bool r_inexact;
  if (mode == Rounding::rna) {
    Mpfr a(wide_bits);
    mpfr_abs(a.v, wide.v, MPFR_RNDN);
    const long e = mpfr_get_exp(a.v) - 1;  // floor(log2 |x|)
    u = round_away_to_grid(a.v, e - m);
    r = round_away_to_grid(a.v, std::max(e, emin) - m);
    Mpfr rv(wide_bits);
    mpfr_set_d(rv.v, r, MPFR_RNDN);
    r_inexact = wide_inexact || mpfr_cmp(rv.v, a.v) != 0;
    if (negative) {
      u = -u;
      r = -r;
    }
  } else {
    Mpfr uv(f.m + 1);
    run(op, uv.v, x, mpfr_mode(mode));
    u = mpfr_get_d(uv.v, MPFR_RNDN);
    Mpfr rv(f.m + 1);
    {
      // MPFR's exponent of the smallest subnormal 2^(emin-m) is emin-m+1 (significands in [1/2, 1)).
      ExponentRange range(emin - m + 1, mpfr_get_emax_max());
      int t = run(op, rv.v, x, mpfr_mode(mode));
      t = mpfr_check_range(rv.v, t, mpfr_mode(mode));
      t = mpfr_subnormalize(rv.v, t, mpfr_mode(mode));
      r_inexact = t != 0;
    }
    r = mpfr_get_d(rv.v, MPFR_RNDN);
  }

  if (std::fabs(u) > max_finite) {
    out.flags = flag::overflow | flag::inexact;
    const bool toward_zero =
        mode == Rounding::rtz || (mode == Rounding::rup && negative) || (mode == Rounding::rdn && !negative);
    if (!toward_zero && f.overflow == FloatOverflow::inf) {
      out.code = (((BigInt(1) << f.e) - 1) << f.m) | (negative ? sign_bit : BigInt(0));
    } else if (!toward_zero && f.overflow == FloatOverflow::nan) {
      out.code = canonical_nan_code(format);
    } else {
      out.code = code_of(format, negative ? -max_finite : max_finite);
    }
    return out;
  }
  std::uint8_t flags = r_inexact ? flag::inexact : 0;
  // Tininess: after rounding, |u| below the smallest normal; before rounding, the exact |x| below it
  // (the truncation decides that: 2^emin is a value of every precision).
  Mpfr a(wide_bits);
  mpfr_abs(a.v, wide.v, MPFR_RNDN);
  const bool tiny_before = mpfr_cmp_d(a.v, smallest_normal) < 0;
  const bool tiny_after = std::fabs(u) < smallest_normal;
  const bool tiny = o.tininess == Tininess::before_rounding ? tiny_before : tiny_after;
  if (r_inexact && tiny) flags |= flag::underflow;
  const bool flush_format = !f.subnormals && r != 0 && std::fabs(r) < smallest_normal;
  const bool flush_ftz = o.ftz && tiny;  // x86 FTZ: every tiny result
  if (flush_format || flush_ftz) {
    r = negative ? -0.0 : 0.0;
    flags |= flag::underflow | flag::inexact;
  }
  if (r == 0) r = negative ? -0.0 : 0.0;
  out.code = code_of(format, r);
  out.flags = flags;
  return out;
}

// ---- CPU -----------------------------------------------------------------------------------------------

namespace {

template <class T>
T from_bits(std::uint64_t b) {
  T v;
  if constexpr (sizeof(T) == 4) {
    const auto u = static_cast<std::uint32_t>(b);
    std::memcpy(&v, &u, 4);
  } else {
    std::memcpy(&v, &b, 8);
  }
  return v;
}

template <class T>
std::uint64_t to_bits(T v) {
  if constexpr (sizeof(T) == 4) {
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
  } else {
    std::uint64_t u;
    std::memcpy(&u, &v, 8);
    return u;
  }
}

// Scalar SSE instructions, written out so that the compiler cannot swap operands (x86's NaN and min/max
// results depend on which operand is first): dst = a OP b.
#define BITSIM_SSE_BINARY(name, insn, T)                                    \
  T name(T a, T b) {                                                        \
    asm volatile(insn " %1, %0" : "+x"(a) : "x"(b));                        \
    return a;                                                               \
  }
BITSIM_SSE_BINARY(add_ss, "addss", float)
BITSIM_SSE_BINARY(sub_ss, "subss", float)
BITSIM_SSE_BINARY(mul_ss, "mulss", float)
BITSIM_SSE_BINARY(div_ss, "divss", float)
BITSIM_SSE_BINARY(min_ss, "minss", float)
BITSIM_SSE_BINARY(max_ss, "maxss", float)
BITSIM_SSE_BINARY(sqrt_ss, "sqrtss", float)
BITSIM_SSE_BINARY(add_sd, "addsd", double)
BITSIM_SSE_BINARY(sub_sd, "subsd", double)
BITSIM_SSE_BINARY(mul_sd, "mulsd", double)
BITSIM_SSE_BINARY(div_sd, "divsd", double)
BITSIM_SSE_BINARY(min_sd, "minsd", double)
BITSIM_SSE_BINARY(max_sd, "maxsd", double)
BITSIM_SSE_BINARY(sqrt_sd, "sqrtsd", double)
#undef BITSIM_SSE_BINARY
#if defined(__FMA__)
// x86 picks the first NaN among x, y, z of x * y + z (Intel SDM vol. 1 table 14-17), whose places
// depend on the encoding: VFMADD132 dst, src2, src3 computes dst * src3 + src2, so x = a, y = b, z = c.
// (The 213 form, src2 * dst + src3, would put b first when both factors are NaN.)
#define BITSIM_FMA(name, insn, T)                                           \
  T name(T a, T b, T c) {                                                   \
    asm volatile(insn " %1, %2, %0" : "+x"(a) : "x"(b), "x"(c));            \
    return a;                                                               \
  }
BITSIM_FMA(fma_ss, "vfmadd132ss", float)
BITSIM_FMA(fma_sd, "vfmadd132sd", double)
#undef BITSIM_FMA
#endif

template <class T>
T cpu_op(Op op, T a, T b, T c) {
#if defined(__FMA__)
  if (op == Op::fma) {
    if constexpr (sizeof(T) == 4) return fma_ss(a, b, c);
    else return fma_sd(a, b, c);
  }
#else
  (void)c;
#endif
  if constexpr (sizeof(T) == 4) {
    switch (op) {
      case Op::add: return add_ss(a, b);
      case Op::sub: return sub_ss(a, b);
      case Op::mul: return mul_ss(a, b);
      case Op::div: return div_ss(a, b);
      case Op::min: return min_ss(a, b);
      case Op::max: return max_ss(a, b);
      case Op::sqrt: return sqrt_ss(b, a);  // sqrtss dst, src: the result is sqrt(src) = sqrt(a)
      default: break;
    }
  } else {
    switch (op) {
      case Op::add: return add_sd(a, b);
      case Op::sub: return sub_sd(a, b);
      case Op::mul: return mul_sd(a, b);
      case Op::div: return div_sd(a, b);
      case Op::min: return min_sd(a, b);
      case Op::max: return max_sd(a, b);
      case Op::sqrt: return sqrt_sd(b, a);
      default: break;
    }
  }
  throw std::logic_error("cpu_oracle: unsupported op");
}

}  // namespace

OracleResult cpu_oracle(Op op, int width, const std::vector<std::uint64_t>& operands, const ArithOptions& o) {
  unsigned rc = 0;
  switch (o.rounding.mode) {
    case Rounding::rne: rc = 0; break;
    case Rounding::rdn: rc = 1; break;
    case Rounding::rup: rc = 2; break;
    case Rounding::rtz: rc = 3; break;
    default: throw std::logic_error("cpu_oracle: x86 has no such rounding mode");
  }
  const unsigned saved = _mm_getcsr();
  // All exceptions masked (bits 7-12), flags (0-5) cleared, rounding (13-14), DAZ (6), FTZ (15).
  const unsigned csr = 0x1F80u | (rc << 13) | (o.daz ? 0x40u : 0u) | (o.ftz ? 0x8000u : 0u);
  _mm_setcsr(csr);
  std::uint64_t bits;
  const std::uint64_t b_bits = operands.size() > 1 ? operands[1] : 0;
  const std::uint64_t c_bits = operands.size() > 2 ? operands[2] : 0;
  if (width == 32)
    bits = to_bits(cpu_op<float>(op, from_bits<float>(operands[0]), from_bits<float>(b_bits), from_bits<float>(c_bits)));
  else
    bits = to_bits(cpu_op<double>(op, from_bits<double>(operands[0]), from_bits<double>(b_bits), from_bits<double>(c_bits)));
  const unsigned after = _mm_getcsr();
  _mm_setcsr(saved);
  OracleResult r;
  r.code = BigInt(bits);
  // MXCSR flags: IE 0, DE 1 (no TestFloat bit), ZE 2, OE 3, UE 4, PE 5.
  if (after & 0x01) r.flags |= flag::invalid;
  if (after & 0x04) r.flags |= flag::divide_by_zero;
  if (after & 0x08) r.flags |= flag::overflow;
  if (after & 0x10) r.flags |= flag::underflow;
  if (after & 0x20) r.flags |= flag::inexact;
  return r;
}

}  // namespace bitsim::test
