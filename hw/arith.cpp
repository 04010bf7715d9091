// Golden arithmetic (arith.hpp): each operation is written from IEEE 754-2019 on exact rationals, then
// rounded once by golden_quantize_exact, the same code that defines `bitsim quantize`. Speed is not a
// goal; exactness and readability are.
#include "hw/arith.hpp"

#include "hw/arith_fast.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <variant>

namespace bitsim::formats {

namespace {

using boost::multiprecision::denominator;
using boost::multiprecision::numerator;

BigInt p2(std::int64_t k) { return BigInt(1) << static_cast<unsigned>(k); }

BigInt floor_nonneg(const Rational& r) { return numerator(r) / denominator(r); }

std::int64_t floor_div2(std::int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

const FloatFormat* as_float(const Format& f) { return f.is<FloatFormat>() ? &f.as<FloatFormat>() : nullptr; }

// Calls on_float or on_fixed with the format's family, for code that differs between the binary
// families. Every public entry refuses formats without arithmetic first (require_arith_format), so
// the other families never get here; a new binary family fails to compile here until each caller
// says what it does with it.
template <class OnFloat, class OnFixed>
std::invoke_result_t<OnFloat, const FloatFormat&> by_binary_family(const Format& format, OnFloat&& on_float,
                                                                   OnFixed&& on_fixed) {
  using Result = std::invoke_result_t<OnFloat, const FloatFormat&>;
  return std::visit(overloaded{[&](const FloatFormat& f) -> Result { return on_float(f); },
                               [&](const FixedFormat& f) -> Result { return on_fixed(f); },
                               [&](const auto& f) -> Result {
                                 static_assert(!family_traits<std::decay_t<decltype(f)>>::value.binary,
                                               "a binary format family needs its case in by_binary_family");
                                 throw std::logic_error("arith: a format without arithmetic reached " +
                                                        format.name());
                               }},
                    format.variant());
}

void require_arith_format(const Format& f, const char* role) {
  if (!f.is_binary())
    throw ArithError(fmt::format("{} format {}: Graham formats have no arithmetic (use float or fixed formats)", role,
                                 f.name()));
  if (!f.has_arithmetic())
    throw ArithError(fmt::format("{} format {}: unsigned floats are storage formats here; bitsim's arithmetic takes signed "
                                 "float and fixed formats",
                                 role, f.name()));
  if (f.width() > 128) throw ArithError(fmt::format("{} format {} is wider than 128 bits", role, f.name()));
}

BigInt sign_bit(const FloatFormat& f) { return p2(f.e + f.m); }

// ---- NaN codes ---------------------------------------------------------------------------------------

BigInt canonical_nan(const Format& format) { return *golden_quantize(format, std::numeric_limits<double>::quiet_NaN(), {}).code; }

// The NaN a format gets when an operation has no NaN operand to return: the canonical NaN, with the sign
// bit set for x86 ("QNaN floating-point indefinite") where the format has a negative NaN.
BigInt default_nan(const Format& format, NanPolicy policy) {
  const FloatFormat& f = format.as<FloatFormat>();
  BigInt code = canonical_nan(format);
  if (policy == NanPolicy::x86 && f.has_negative_zero()) code |= sign_bit(f);  // fnuz, inuz: the one NaN is 1 0...0
  return code;
}

BigInt quieted(const FloatFormat& f, const BigInt& code) {
  if (f.special == Special::ieee) return code | p2(f.m - 1);
  return code;  // fn, fnuz and inuz have a single NaN pattern (per sign), which is quiet
}

bool has_nan(const Format& format) {
  const FloatFormat* f = as_float(format);
  return f && f->has_nan();
}

ArithResult make_nan(const Format& format, const BigInt& code, std::uint8_t flags) {
  ArithResult r;
  r.code = code;
  r.width = format.width();
  r.kind = ValueKind::nan;
  r.negative = code >= sign_bit(format.as<FloatFormat>());
  r.value = std::numeric_limits<double>::quiet_NaN();
  r.unrounded.kind = ValueKind::nan;
  r.flags = flags;
  return r;
}

// The result of an operation whose result is NaN: `ops` are the operands in the order the policy reads
// them (x86: a, b, c; Arm: its own order), `invalid_op` whether the operation itself is invalid (as
// opposed to a NaN operand passing through). Formats without NaN give +0 with the invalid flag.
ArithResult nan_result(const Format& format, const ArithOptions& o, const std::vector<const Operand*>& x86_order,
                       const std::vector<const Operand*>& arm_order, bool invalid_op) {
  bool snan = false;
  for (const Operand* x : x86_order) snan = snan || (x->kind == ValueKind::nan && x->signalling);
  const std::uint8_t flags = (invalid_op || snan) ? flag::invalid : 0;
  if (!has_nan(format)) {
    ArithResult r;
    r.code = 0;
    r.width = format.width();
    r.exact_value = Rational(0);
    r.unrounded.kind = ValueKind::nan;
    r.flags = flag::invalid;
    return r;
  }
  const FloatFormat& f = format.as<FloatFormat>();
  const Operand* pick = nullptr;
  if (o.nan == NanPolicy::x86) {
    for (const Operand* x : x86_order)
      if (!pick && x->kind == ValueKind::nan) pick = x;
  } else if (o.nan == NanPolicy::arm) {
    for (const Operand* x : arm_order)
      if (!pick && x->kind == ValueKind::nan && x->signalling) pick = x;
    for (const Operand* x : arm_order)
      if (!pick && x->kind == ValueKind::nan) pick = x;
  }
  return make_nan(format, pick ? quieted(f, pick->code) : default_nan(format, o.nan), flags);
}

// ---- results from exact values -----------------------------------------------------------------------

Rational smallest_normal(const FloatFormat& f) { return pow2(f.emin()); }

// A rational that every rounding of docs/spec/formats.md (all modes, sr with up to 32 bits, tininess,
// overflow) treats exactly as sqrt(r): sqrt(r) truncated to a multiple of 2^G plus, when the truncation
// is inexact, half of 2^G. No decision point (grid point, midpoint, sr threshold, 2^emin) lies strictly
// between two multiples of 2^G when G is at least 34 bits below the result's quantum.
Rational sqrt_stand_in(const Rational& r, std::int64_t G) {
  const Rational scaled = r * pow2(-2 * G);
  const BigInt n = floor_nonneg(scaled);
  const BigInt y = boost::multiprecision::sqrt(n);
  const bool exact = Rational(n) == scaled && y * y == n;
  Rational a = Rational(y) * pow2(G);
  if (!exact) a += pow2(G - 1);
  return a;
}

std::int64_t sqrt_guard_exponent(const Format& format, const Rational& r) {
  const std::int64_t e = floor_div2(floor_log2(r));  // floor(log2(sqrt(r)))
  return by_binary_family(
      format, [&](const FloatFormat& f) { return e - f.m - 40; },
      [&](const FixedFormat& f) { return std::min<std::int64_t>(-f.f, e) - 40; });
}

ArithResult from_golden(const Format& format, const GoldenResult& g, const ExactResult& unrounded, std::uint8_t flags) {
  ArithResult r;
  r.code = g.code.value_or(0);
  r.width = format.width();
  r.kind = g.kind;
  r.negative = g.negative;
  r.value = g.value;
  if (g.kind == ValueKind::finite) r.exact_value = g.exact;
  if (g.kind == ValueKind::nan) r.negative = r.code >= sign_bit(format.as<FloatFormat>());
  r.unrounded = unrounded;
  r.flags = flags;
  return r;
}

bool true_value_below(const ExactResult& x, const Rational& bound) {
  return x.is_sqrt ? x.magnitude < bound * bound : x.magnitude < bound;
}

// Rounds an exact finite or infinite value into `format` once; `op_flags` are the operation's own flags
// (invalid / divide-by-zero) to merge.
ArithResult round_result(const Format& format, const ExactResult& x, const ArithOptions& o, std::uint32_t word,
                         std::uint8_t op_flags) {
  const FloatFormat* ff = as_float(format);
  if (x.kind == ValueKind::infinite) {
    // Float: division by zero into a format without infinity saturates (or gives NaN) under the
    // overflow policy. Fixed point: the end of the range of the value's sign, whatever `overflow`
    // says. Either raises only divide-by-zero; an infinite operand converted raises quantize's flags.
    const Format target = by_binary_family(
        format, [&](const FloatFormat&) { return format; },
        [&](const FixedFormat& f) {
          FixedFormat sat = f;
          sat.overflow = FixedOverflow::saturate;
          return Format(sat);
        });
    GoldenResult g = golden_quantize_exact(target, ExactInput{ValueKind::infinite, x.negative, 0}, o.rounding, word);
    return from_golden(format, g, x, (op_flags & flag::divide_by_zero) ? op_flags : std::uint8_t(op_flags | g.flags));
  }
  const Rational magnitude =
      x.is_sqrt && x.magnitude != 0 ? sqrt_stand_in(x.magnitude, sqrt_guard_exponent(format, x.magnitude)) : x.magnitude;
  GoldenResult g = golden_quantize_exact(format, ExactInput{ValueKind::finite, x.negative, magnitude}, o.rounding, word);
  std::uint8_t flags = g.flags | op_flags;
  if (ff && g.kind == ValueKind::finite && x.magnitude != 0) {
    const TininessOutcome t =
        apply_tininess(flags, true_value_below(x, smallest_normal(*ff)), g.exact && *g.exact != 0, o);
    flags = t.flags;
    if (t.flush) {
      g.exact = Rational(0);
      g.negative = g.negative && ff->has_negative_zero();
      g.code = g.negative ? sign_bit(*ff) : BigInt(0);
      g.value = g.negative ? -0.0 : 0.0;
    }
  }
  return from_golden(format, g, x, flags);
}

// An operand returned unchanged (min, max).
ArithResult operand_result(const Format& format, const Operand& x, std::uint8_t flags) {
  if (x.kind == ValueKind::nan) return make_nan(format, x.code, flags);
  GoldenResult g = golden_decode(format, x.code);
  ExactResult u{x.kind, x.negative, x.magnitude, false};
  return from_golden(format, g, u, flags);
}

ArithResult boolean_result(bool value, std::uint8_t flags) {
  ArithResult r;
  r.code = value ? 1 : 0;
  r.width = 1;
  r.value = value ? 1 : 0;
  r.exact_value = Rational(value ? 1 : 0);
  r.unrounded.magnitude = Rational(value ? 1 : 0);
  r.flags = flags;
  return r;
}

// ---- operand helpers ---------------------------------------------------------------------------------

bool is_nan(const Operand& x) { return x.kind == ValueKind::nan; }
bool is_inf(const Operand& x) { return x.kind == ValueKind::infinite; }
bool is_zero(const Operand& x) { return x.kind == ValueKind::finite && x.magnitude == 0; }
Rational signed_of(const Operand& x) { return x.negative ? Rational(-x.magnitude) : x.magnitude; }

ExactResult finite_result(const Rational& v, bool negative_if_zero) {
  ExactResult r;
  r.negative = v < 0 || (v == 0 && negative_if_zero);
  r.magnitude = v < 0 ? Rational(-v) : v;
  return r;
}

// The sign of an exact zero sum (IEEE 754 6.3): like-signed zeros keep their sign; any other exact
// zero is +0, except -0 when rounding toward -Inf.
bool zero_sum_negative(bool p_zero, bool p_negative, bool q_zero, bool q_negative, const ArithOptions& o) {
  if (p_zero && q_zero && p_negative == q_negative) return p_negative;
  return o.rounding.mode == Rounding::rdn;
}

// -1, 0, 1 for ordered non-NaN operands (-0 == +0).
int compare_values(const Operand& a, const Operand& b) {
  auto rank = [](const Operand& x) { return is_inf(x) ? (x.negative ? -1 : 1) : 0; };
  if (rank(a) != rank(b)) return rank(a) < rank(b) ? -1 : 1;
  if (rank(a) != 0) return 0;
  const Rational va = signed_of(a), vb = signed_of(b);
  return va < vb ? -1 : (va > vb ? 1 : 0);
}

// Order with -0 below +0 (IEEE 754-2019 minimum/maximum and minimumNumber/maximumNumber).
bool below_with_signed_zero(const Operand& a, const Operand& b) {
  const int c = compare_values(a, b);
  if (c != 0) return c < 0;
  return is_zero(a) && is_zero(b) && a.negative && !b.negative;
}

// ---- operations --------------------------------------------------------------------------------------

ArithResult op_add(const Format& F, const Operand& a, Operand b, bool subtract, const ArithOptions& o,
                   std::uint32_t w) {
  if (is_nan(a) || is_nan(b)) return nan_result(F, o, {&a, &b}, {&a, &b}, false);
  if (subtract) b.negative = !b.negative;
  if (is_inf(a) || is_inf(b)) {
    if (is_inf(a) && is_inf(b) && a.negative != b.negative) return nan_result(F, o, {&a, &b}, {&a, &b}, true);
    return round_result(F, ExactResult{ValueKind::infinite, is_inf(a) ? a.negative : b.negative, 0, false}, o, w, 0);
  }
  const Rational s = signed_of(a) + signed_of(b);
  const bool neg_zero = zero_sum_negative(is_zero(a), a.negative, is_zero(b), b.negative, o);
  return round_result(F, finite_result(s, neg_zero), o, w, 0);
}

ArithResult op_mul(const Format& F, const Operand& a, const Operand& b, const ArithOptions& o, std::uint32_t w) {
  if (is_nan(a) || is_nan(b)) return nan_result(F, o, {&a, &b}, {&a, &b}, false);
  const bool neg = a.negative != b.negative;
  if (is_inf(a) || is_inf(b)) {
    if (is_zero(a) || is_zero(b)) return nan_result(F, o, {&a, &b}, {&a, &b}, true);
    return round_result(F, ExactResult{ValueKind::infinite, neg, 0, false}, o, w, 0);
  }
  return round_result(F, ExactResult{ValueKind::finite, neg, a.magnitude * b.magnitude, false}, o, w, 0);
}

ArithResult op_div(const Format& F, const Operand& a, const Operand& b, const ArithOptions& o, std::uint32_t w) {
  if (is_nan(a) || is_nan(b)) return nan_result(F, o, {&a, &b}, {&a, &b}, false);
  const bool neg = a.negative != b.negative;
  if ((is_inf(a) && is_inf(b)) || (is_zero(a) && is_zero(b))) return nan_result(F, o, {&a, &b}, {&a, &b}, true);
  if (is_inf(a)) return round_result(F, ExactResult{ValueKind::infinite, neg, 0, false}, o, w, 0);
  if (is_inf(b)) return round_result(F, ExactResult{ValueKind::finite, neg, 0, false}, o, w, 0);
  if (is_zero(b)) return round_result(F, ExactResult{ValueKind::infinite, neg, 0, false}, o, w, flag::divide_by_zero);
  return round_result(F, ExactResult{ValueKind::finite, neg, a.magnitude / b.magnitude, false}, o, w, 0);
}

ArithResult op_fma(const Format& F, const Operand& a, const Operand& b, const Operand& c, const ArithOptions& o,
                   std::uint32_t w) {
  const bool inf_times_zero = (is_inf(a) && is_zero(b)) || (is_zero(a) && is_inf(b));
  if (is_nan(a) || is_nan(b) || is_nan(c)) {
    // 0 x Inf + qNaN (IEEE 754-2019 7.2 leaves the invalid flag to the implementation): RISC-V and Arm
    // signal invalid, and Arm returns the default NaN rather than the addend; x86 returns the quieted
    // addend and signals invalid only for a signalling NaN (Intel SDM vol. 1 table 14-17 "FMA Numeric
    // Behavior"; AMD EPYC measured alike, tests/test_arith_mpfr.cpp).
    if (inf_times_zero && o.nan == NanPolicy::arm && is_nan(c) && !c.signalling && !is_nan(a) && !is_nan(b)) {
      ArithOptions canonical = o;
      canonical.nan = NanPolicy::canonical;
      return nan_result(F, canonical, {&a, &b, &c}, {}, true);
    }
    return nan_result(F, o, {&a, &b, &c}, {&c, &a, &b}, inf_times_zero && o.nan != NanPolicy::x86);
  }
  if (inf_times_zero) return nan_result(F, o, {&a, &b, &c}, {&c, &a, &b}, true);
  const bool p_neg = a.negative != b.negative;
  const bool p_inf = is_inf(a) || is_inf(b);
  if (p_inf || is_inf(c)) {
    if (p_inf && is_inf(c) && p_neg != c.negative) return nan_result(F, o, {&a, &b, &c}, {&c, &a, &b}, true);
    return round_result(F, ExactResult{ValueKind::infinite, p_inf ? p_neg : c.negative, 0, false}, o, w, 0);
  }
  const Rational p = a.magnitude * b.magnitude;
  const Rational s = (p_neg ? Rational(-p) : p) + signed_of(c);
  const bool neg_zero = zero_sum_negative(p == 0, p_neg, is_zero(c), c.negative, o);
  return round_result(F, finite_result(s, neg_zero), o, w, 0);
}

ArithResult op_sqrt(const Format& F, const Operand& a, const ArithOptions& o, std::uint32_t w) {
  if (is_nan(a)) return nan_result(F, o, {&a}, {&a}, false);
  if (is_zero(a)) return round_result(F, ExactResult{ValueKind::finite, a.negative, 0, false}, o, w, 0);
  if (a.negative) return nan_result(F, o, {&a}, {&a}, true);
  if (is_inf(a)) return round_result(F, ExactResult{ValueKind::infinite, false, 0, false}, o, w, 0);
  return round_result(F, ExactResult{ValueKind::finite, false, a.magnitude, true}, o, w, 0);
}

ArithResult op_minmax(const Format& F, const Operand& a, const Operand& b, bool is_max, const ArithOptions& o) {
  // b "wins" when it is the min (max) under the ordering with -0 < +0.
  auto pick_b = [&] { return is_max ? below_with_signed_zero(a, b) : below_with_signed_zero(b, a); };
  if (!as_float(F)) return operand_result(F, pick_b() ? b : a, 0);
  const bool snan = (is_nan(a) && a.signalling) || (is_nan(b) && b.signalling);
  switch (o.nan) {
    case NanPolicy::x86: {
      // MINSS/MAXSS: dst = a < b ? a : b (a > b for max); any NaN operand raises invalid.
      const std::uint8_t flags = (is_nan(a) || is_nan(b)) ? flag::invalid : 0;
      if (is_nan(a) || is_nan(b)) return operand_result(F, b, flags);
      const int c = compare_values(a, b);
      return operand_result(F, (is_max ? c > 0 : c < 0) ? a : b, flags);
    }
    case NanPolicy::arm:
      // FMIN/FMAX: NaNs propagate as in any arithmetic operation.
      if (is_nan(a) || is_nan(b)) return nan_result(F, o, {&a, &b}, {&a, &b}, false);
      return operand_result(F, pick_b() ? b : a, 0);
    case NanPolicy::canonical: {
      // minimumNumber/maximumNumber (RISC-V fmin/fmax): a number beats a NaN; sNaN still signals.
      const std::uint8_t flags = snan ? flag::invalid : 0;
      if (is_nan(a) && is_nan(b)) return make_nan(F, canonical_nan(F), flags);
      if (is_nan(a)) return operand_result(F, b, flags);
      if (is_nan(b)) return operand_result(F, a, flags);
      return operand_result(F, pick_b() ? b : a, flags);
    }
  }
  return operand_result(F, a, 0);
}

ArithResult op_compare(Op op, const Operand& a, const Operand& b) {
  const bool any_nan = is_nan(a) || is_nan(b);
  const bool snan = (is_nan(a) && a.signalling) || (is_nan(b) && b.signalling);
  const bool signalling_op = op == Op::lt || op == Op::le || op == Op::eq_signaling;
  const std::uint8_t flags = (snan || (any_nan && signalling_op)) ? flag::invalid : 0;
  if (any_nan) return boolean_result(false, flags);
  const int c = compare_values(a, b);
  switch (op) {
    case Op::eq:
    case Op::eq_signaling: return boolean_result(c == 0, flags);
    case Op::lt:
    case Op::lt_quiet: return boolean_result(c < 0, flags);
    default: return boolean_result(c <= 0, flags);
  }
}

// The code an integer (fixed-point) destination gives for a NaN or out-of-range input, per convention.
BigInt integer_invalid_code(const FixedFormat& f, NanPolicy p, bool is_nan_input, bool negative) {
  const int w = f.width();
  const BigInt all_ones = p2(w) - 1;
  const BigInt max_code = f.is_signed ? p2(w - 1) - 1 : all_ones;  // largest positive
  const BigInt min_code = f.is_signed ? p2(w - 1) : BigInt(0);     // most negative (as a code)
  switch (p) {
    case NanPolicy::x86: return f.is_signed ? min_code : all_ones;  // "integer indefinite"
    case NanPolicy::arm: return is_nan_input ? BigInt(0) : (negative ? min_code : max_code);
    case NanPolicy::canonical: return is_nan_input ? max_code : (negative ? min_code : max_code);
  }
  return 0;
}

ArithResult convert_to_float(const Format& from, const Format& to, const FloatFormat& tf, const Operand& a,
                             const ArithOptions& o, std::uint32_t w) {
  if (is_nan(a)) {
    const std::uint8_t flags = a.signalling ? flag::invalid : 0;
    if (!tf.has_nan()) return nan_result(to, o, {&a}, {&a}, true);
    if (o.nan == NanPolicy::canonical) return make_nan(to, canonical_nan(to), flags);
    // Propagate sign and payload: the fraction's top bits carry over (narrowing drops low bits).
    const FloatFormat& ff = from.as<FloatFormat>();
    const BigInt frac = a.code & (p2(ff.m) - 1);
    const bool neg = a.code >= sign_bit(ff);
    if (!tf.has_negative_zero()) return make_nan(to, canonical_nan(to), flags);  // fnuz, inuz: one NaN, 1 0...0
    BigInt code;
    if (tf.special == Special::ieee) {
      const BigInt payload = tf.m >= ff.m ? BigInt(frac << (tf.m - ff.m)) : BigInt(frac >> (ff.m - tf.m));
      code = ((p2(tf.e) - 1) << tf.m) | payload | p2(tf.m - 1);
    } else {
      code = canonical_nan(to) & (sign_bit(tf) - 1);
    }
    if (neg) code |= sign_bit(tf);
    return make_nan(to, code, flags);
  }
  const ExactResult x{a.kind, a.negative, a.magnitude, false};
  return round_result(to, x, o, w, 0);
}

// Integer (fixed-point) destination: IEEE 754 5.8 - NaN and out-of-range inputs are invalid (not
// overflow, and not inexact); the code follows the convention, or wraps for overflow=wrap.
ArithResult convert_to_fixed(const Format& to, const FixedFormat& tf, const Operand& a, const ArithOptions& o,
                             std::uint32_t w) {
  const ExactResult x{a.kind, a.negative, a.magnitude, false};
  if (is_nan(a)) {
    ArithResult d = operand_result(to, decode_operand(to, integer_invalid_code(tf, o.nan, true, false)), flag::invalid);
    d.unrounded.kind = ValueKind::nan;
    return d;
  }
  ArithResult r = round_result(to, x, o, w, 0);
  if (o.notexact) r.flags &= static_cast<std::uint8_t>(~flag::inexact);
  if (is_inf(a) || (r.flags & flag::overflow)) {
    r.flags = flag::invalid;
    if (tf.overflow == FixedOverflow::saturate || is_inf(a)) {
      const BigInt code = o.nan == NanPolicy::x86 ? integer_invalid_code(tf, o.nan, false, a.negative) : r.code;
      ArithResult d = operand_result(to, decode_operand(to, code), flag::invalid);
      d.unrounded = x;
      return d;
    }
  }
  return r;
}

ArithResult op_convert(const Format& from, const Format& to, const Operand& a, const ArithOptions& o,
                       std::uint32_t w) {
  return by_binary_family(
      to, [&](const FloatFormat& tf) { return convert_to_float(from, to, tf, a, o, w); },
      [&](const FixedFormat& tf) { return convert_to_fixed(to, tf, a, o, w); });
}

}  // namespace

// ---- public ------------------------------------------------------------------------------------------

double ExactResult::nearest_double() const {
  if (kind == ValueKind::nan) return std::numeric_limits<double>::quiet_NaN();
  double m;
  if (kind == ValueKind::infinite) m = std::numeric_limits<double>::infinity();
  else if (is_sqrt && magnitude != 0) {
    // 62 bits below the leading bit: far more than double's 53 plus the two a correct rounding needs.
    m = formats::nearest_double(sqrt_stand_in(magnitude, floor_div2(floor_log2(magnitude)) - 62));
  } else m = formats::nearest_double(magnitude);
  return negative ? -m : m;
}

std::string ExactResult::to_string() const {
  if (kind == ValueKind::nan) return "nan";
  if (kind == ValueKind::infinite) return negative ? "-inf" : "inf";
  std::string s = negative ? "-" : "";
  const std::string body = magnitude.str();
  return s + (is_sqrt ? "sqrt(" + body + ")" : body);
}

Operand decode_operand(const Format& format, const BigInt& code) {
  require_arith_format(format, "operand");
  if (code < 0 || code >= p2(format.width()))
    throw ArithError(fmt::format("operand 0x{} does not fit the {} bits of {}", code.str(0, std::ios_base::hex),
                                 format.width(), format.name()));
  const GoldenResult g = golden_decode(format, code);
  Operand x;
  x.code = code;
  x.kind = g.kind;
  x.negative = g.negative;
  if (const FloatFormat* f = as_float(format)) {
    const BigInt idx = code & (sign_bit(*f) - 1);
    const BigInt frac = idx & (p2(f->m) - 1);
    if (g.kind == ValueKind::nan) {
      x.negative = code >= sign_bit(*f);
      x.signalling = f->special == Special::ieee && f->m >= 1 && ((frac >> (f->m - 1)) & 1) == 0;
    }
    if (g.kind == ValueKind::finite) x.subnormal = (idx >> f->m) == 0 && frac != 0;
  }
  if (g.kind == ValueKind::finite) x.magnitude = *g.exact;
  return x;
}

ArithResult arith(Op op, const Format& format, const std::vector<BigInt>& operands, const ArithOptions& options,
                  std::uint32_t word, const Format* to) {
  if (!to && static_cast<int>(operands.size()) == op_arity(op) && format.is_binary() &&
      !(options.rounding.mode == Rounding::sr && (options.rounding.sr_bits < 1 || options.rounding.sr_bits > 32)))
    if (auto fast = arith_fast(op, format, operands, options, word)) return std::move(*fast);
  return arith_golden(op, format, operands, options, word, to);
}

ArithResult arith_golden(Op op, const Format& format, const std::vector<BigInt>& operands, const ArithOptions& options,
                         std::uint32_t word, const Format* to) {
  require_arith_format(format, "operand");
  if (static_cast<int>(operands.size()) != op_arity(op))
    throw ArithError(fmt::format("{} takes {} operand(s), got {}", op_name(op), op_arity(op), operands.size()));
  if (op == Op::convert && !to) throw ArithError("convert needs a destination format");
  if (to) require_arith_format(*to, "destination");
  if (options.rounding.mode == Rounding::sr && (options.rounding.sr_bits < 1 || options.rounding.sr_bits > 32))
    throw ArithError(fmt::format("sr_bits must be 1..32, got {}", options.rounding.sr_bits));
  std::vector<Operand> x;
  for (const BigInt& code : operands) {
    Operand v = decode_operand(format, code);
    if (options.daz && v.subnormal) {  // read as zero of the same sign
      const FloatFormat& f = format.as<FloatFormat>();
      v.magnitude = 0;
      v.subnormal = false;
      v.code = (v.negative && f.has_negative_zero()) ? sign_bit(f) : BigInt(0);
    }
    x.push_back(std::move(v));
  }
  const ArithOptions& o = options;
  switch (op) {
    case Op::add: return op_add(format, x[0], x[1], false, o, word);
    case Op::sub: return op_add(format, x[0], x[1], true, o, word);
    case Op::mul: return op_mul(format, x[0], x[1], o, word);
    case Op::div: return op_div(format, x[0], x[1], o, word);
    case Op::fma: return op_fma(format, x[0], x[1], x[2], o, word);
    case Op::sqrt: return op_sqrt(format, x[0], o, word);
    case Op::min: return op_minmax(format, x[0], x[1], false, o);
    case Op::max: return op_minmax(format, x[0], x[1], true, o);
    case Op::convert: return op_convert(format, *to, x[0], o, word);
    default: return op_compare(op, x[0], x[1]);
  }
}

std::optional<BigInt> ulp_distance(const Format& format, const BigInt& a, const BigInt& b) {
  const Operand x = decode_operand(format, a), y = decode_operand(format, b);
  if (x.kind == ValueKind::nan || y.kind == ValueKind::nan) return std::nullopt;
  auto position = [&](const Operand& v) -> BigInt {
    return by_binary_family(
        format,
        [&](const FloatFormat& f) {
          const BigInt idx = v.code & (sign_bit(f) - 1);
          if (v.code < sign_bit(f)) return idx;
          return f.has_negative_zero() ? BigInt(-idx - 1) : BigInt(-idx);
        },
        [&](const FixedFormat& f) {
          BigInt s = v.code;
          if (f.is_signed && s >= p2(f.width() - 1)) s -= p2(f.width());
          return s;
        });
  };
  return position(x) - position(y);
}

}  // namespace bitsim::formats
