// Golden path. Each function follows the wording of docs/spec/formats.md step by step on exact
// rationals; speed is not a goal here (the fast kernels are).
#include "formats/golden.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

namespace bitsim::formats {

namespace {

using boost::multiprecision::denominator;
using boost::multiprecision::numerator;

BigInt floor_of(const Rational& r) {
  BigInt q = numerator(r) / denominator(r);  // truncates toward zero
  if (r < 0 && Rational(q) != r) q -= 1;
  return q;
}

BigInt big_pow(BigInt base, std::uint64_t exp) {
  BigInt r = 1;
  while (exp) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

Rational rational_pow(const Rational& base, std::uint64_t exp) {
  return Rational(big_pow(numerator(base), exp), big_pow(denominator(base), exp));
}

BigInt pow2_int(std::int64_t k) { return BigInt(1) << static_cast<unsigned>(k); }

double signed_value(bool negative, double magnitude) { return negative ? -magnitude : magnitude; }

// Whether the rounding of a magnitude goes up, given the floor d (as a magnitude index parity
// `lower_is_odd`), the exact fraction t in [0,1) and the sign of x.
bool rounds_up(RoundingSpec rs, const Rational& t, bool lower_is_odd, bool negative, std::uint32_t word) {
  if (t == 0) return false;
  switch (rs.mode) {
    case Rounding::rne: return t > Rational(1, 2) || (t == Rational(1, 2) && lower_is_odd);
    case Rounding::rna: return t >= Rational(1, 2);
    case Rounding::rtz: return false;
    case Rounding::rup: return !negative;
    case Rounding::rdn: return negative;
    case Rounding::sr: {
      const int R = rs.sr_bits;
      BigInt f = floor_of(t * Rational(pow2_int(R)));
      BigInt r = BigInt(word >> (32 - R));
      return f + r >= pow2_int(R);
    }
  }
  return false;
}

// ---- float -----------------------------------------------------------------------------------------

struct FloatGrid {
  const FloatFormat& f;
  BigInt max_index() const {
    const BigInt frac_ones = pow2_int(f.m) - 1;
    const BigInt top = pow2_int(f.e) - 1;
    if (!f.is_signed) {  // all ones is the NaN (fnuz, inuz), the code below it +Inf (inuz)
      const BigInt all_ones = pow2_int(f.e + f.m) - 1;
      return f.special == Special::inuz ? BigInt(all_ones - 2) : f.special == Special::fnuz ? BigInt(all_ones - 1) : all_ones;
    }
    switch (f.special) {
      case Special::ieee: return f.e == 1 ? frac_ones : ((top - 1) << f.m) | frac_ones;
      case Special::fn: return f.m == 0 ? top - 1 : ((top << f.m) | (frac_ones - 1));
      case Special::fnuz:
      case Special::none: return (top << f.m) | frac_ones;
      case Special::inuz: return ((top << f.m) | frac_ones) - 1;  // all ones is Inf
    }
    return 0;
  }
  // Grid index of code 0 (formats.md 2.2): 2^m in a format without zero, whose code 0 is 2^emin.
  BigInt grid_offset() const { return f.has_zero ? BigInt(0) : pow2_int(f.m); }
  // Magnitude of the code whose bits without the sign are `code` (section 1.2's formula).
  Rational code_magnitude(const BigInt& code) const {
    if (f.has_zero) return magnitude(code);
    // No zero: every exponent field k, 0 included, is normal, (1 + f/2^M) x 2^(k-B).
    const BigInt field = code >> f.m;
    const BigInt frac = code & (pow2_int(f.m) - 1);
    return Rational(pow2_int(f.m) + frac) * pow2(static_cast<std::int64_t>(field) - f.bias - f.m);
  }
  // Magnitude of the grid point with index idx (idx may lie beyond the largest code).
  Rational magnitude(const BigInt& idx) const {
    const BigInt scale = pow2_int(f.m);
    if (idx < scale) return Rational(idx) * pow2(f.emin() - f.m);
    BigInt field = idx >> f.m;
    BigInt frac = idx & (scale - 1);
    return Rational(scale + frac) * pow2(f.emin() - 1 - f.m + static_cast<std::int64_t>(field));
  }
  // An unsigned format's codes all lie below this bit, and it is never set.
  BigInt sign_bit() const { return pow2_int(f.e + f.m); }
  BigInt nan_code() const {
    if (!f.is_signed) return sign_bit() - 1;  // fnuz, inuz: all ones
    switch (f.special) {
      case Special::ieee: return ((pow2_int(f.e) - 1) << f.m) | pow2_int(f.m - 1);
      case Special::fn: return pow2_int(f.e + f.m) - 1;
      case Special::fnuz:
      case Special::inuz: return sign_bit();  // the would-be -0
      case Special::none: break;
    }
    return 0;
  }
  BigInt inf_index() const {
    if (!f.is_signed) return sign_bit() - 2;
    return f.special == Special::inuz ? sign_bit() - 1 : (pow2_int(f.e) - 1) << f.m;
  }
  // fnuz and inuz have no -0 (the would-be -0 code is their NaN), an unsigned format no sign.
  bool unsigned_zero() const { return !f.has_negative_zero(); }
};

GoldenResult float_special_nan(const FloatFormat& f) {
  if (!f.has_nan())
    throw QuantizeError(fmt::format("NaN input: format {} has no NaN encoding", Format(f).to_string()));
  GoldenResult r;
  r.kind = ValueKind::nan;
  r.code = FloatGrid{f}.nan_code();
  r.value = std::numeric_limits<double>::quiet_NaN();
  return r;
}

// The result of an overflow or of an infinite input under the format's policy; `toward_zero` selects
// the IEEE exception for directed rounding toward zero.
GoldenResult float_overflow_result(const FloatFormat& f, bool negative, bool toward_zero, bool infinite_input) {
  FloatGrid g{f};
  GoldenResult r;
  if (!toward_zero && f.overflow == FloatOverflow::nan) return float_special_nan(f);
  r.negative = negative;
  if (!toward_zero && (f.overflow == FloatOverflow::inf || (infinite_input && f.keeps_infinite_inputs()))) {
    r.kind = ValueKind::infinite;
    r.code = g.inf_index() | (negative ? g.sign_bit() : BigInt(0));
    r.value = signed_value(negative, std::numeric_limits<double>::infinity());
    return r;
  }
  BigInt idx = g.max_index();
  r.code = idx | (negative ? g.sign_bit() : BigInt(0));
  r.exact = g.code_magnitude(idx);
  r.value = signed_value(negative, nearest_double(*r.exact));
  return r;
}

GoldenResult golden_float(const FloatFormat& f, const ExactInput& x, RoundingSpec rs, std::uint32_t word) {
  FloatGrid g{f};
  if (x.is_nan()) return float_special_nan(f);
  const bool negative = x.negative;
  if (!f.is_signed && negative && !x.is_zero()) {
    // An unsigned format has no negative values: P3109 saturates to the smallest one, code 0 (+0, or
    // 2^emin without zero).
    GoldenResult r;
    r.code = BigInt(0);
    r.exact = g.code_magnitude(0);
    r.value = nearest_double(*r.exact);
    r.flags = x.is_inf() ? flag::invalid : flag::invalid | flag::inexact;
    return r;
  }
  if (!f.has_zero && !x.is_inf() && (x.is_zero() || x.magnitude < pow2(f.emin()))) {
    // Without zero, zero and every magnitude below the smallest value 2^emin become that value (code 0).
    GoldenResult r;
    r.code = BigInt(0);
    r.exact = pow2(f.emin());
    r.value = nearest_double(*r.exact);
    r.flags = flag::underflow | flag::inexact;
    return r;
  }
  if (x.is_inf()) {
    // Not rounded: the overflow policy's value, in every rounding mode.
    GoldenResult r = float_overflow_result(f, negative, false, true);
    if (r.kind != ValueKind::infinite) r.flags = flag::invalid;
    return r;
  }
  GoldenResult r;
  if (x.is_zero()) {
    r.negative = negative && !g.unsigned_zero();
    r.code = r.negative ? g.sign_bit() : BigInt(0);
    r.exact = Rational(0);
    r.value = signed_value(r.negative, 0.0);
    return r;
  }
  const Rational ax = x.magnitude;
  const std::int64_t emin = f.emin();
  // Neighbouring grid points d <= |x| < u on the grid with subnormals and unbounded exponent.
  const std::int64_t e = floor_log2(ax);
  const std::int64_t eq = std::max(e, emin);
  const Rational quantum = pow2(eq - f.m);
  const Rational n = ax / quantum;
  const BigInt d = floor_of(n);
  const Rational t = n - Rational(d);
  const BigInt base_index = BigInt(eq - emin) * pow2_int(f.m);  // grid index of (eq, significand 0)
  const BigInt lower_index = base_index + d - g.grid_offset();   // its code (without sign)
  const bool up = rounds_up(rs, t, (lower_index & 1) != 0, negative, word);
  const BigInt index = lower_index + (up ? 1 : 0);
  const bool inexact = t != 0;

  // Tininess after rounding: round with the format's precision and an unbounded exponent range.
  bool tiny = false;
  if (inexact && e < emin) {
    const Rational q2 = pow2(e - f.m);
    const Rational n2 = ax / q2;
    const BigInt d2 = floor_of(n2);
    const Rational t2 = n2 - Rational(d2);
    // Index parity continued below the normal range: significand parity, or for m = 0 the exponent's.
    const bool odd = f.m >= 1 ? (d2 & 1) != 0 : ((e - emin) & 1) == 0;
    const bool up2 = rounds_up(rs, t2, odd, negative, word);
    tiny = Rational(d2 + (up2 ? 1 : 0)) * q2 < pow2(emin);
  }

  if (index > g.max_index()) {
    const bool toward_zero = rs.mode == Rounding::rtz || (rs.mode == Rounding::rup && negative) ||
                             (rs.mode == Rounding::rdn && !negative);
    GoldenResult o = float_overflow_result(f, negative, toward_zero, false);
    o.flags = flag::overflow | flag::inexact;
    return o;
  }
  Rational mag = g.code_magnitude(index);
  BigInt code_index = index;
  std::uint8_t flags = inexact ? flag::inexact : 0;
  if (inexact && tiny) flags |= flag::underflow;
  if (!f.subnormals && mag != 0 && mag < pow2(emin)) {  // flush to zero after rounding
    mag = 0;
    code_index = 0;
    flags |= flag::underflow | flag::inexact;
  }
  r.negative = negative && !(g.unsigned_zero() && mag == 0);
  r.code = code_index | (r.negative ? g.sign_bit() : BigInt(0));
  r.exact = mag;
  r.value = signed_value(r.negative, nearest_double(mag));
  r.flags = flags;
  return r;
}

// ---- fixed -----------------------------------------------------------------------------------------

struct FixedRange {
  BigInt lo, hi;  // code range
};

FixedRange fixed_range(const FixedFormat& f) {
  const int w = f.width();
  if (f.is_signed) return {-pow2_int(w - 1), pow2_int(w - 1) - 1};
  return {0, pow2_int(w) - 1};
}

GoldenResult fixed_from_code_value(const FixedFormat& f, const BigInt& signed_code) {
  GoldenResult r;
  const int w = f.width();
  r.code = signed_code < 0 ? signed_code + pow2_int(w) : signed_code;
  Rational v = Rational(signed_code) * pow2(-f.f);
  r.negative = v < 0;
  r.exact = r.negative ? Rational(-v) : v;
  r.value = signed_value(r.negative, nearest_double(*r.exact));
  return r;
}

GoldenResult golden_fixed(const FixedFormat& f, const ExactInput& x, RoundingSpec rs, std::uint32_t word) {
  const FixedRange range = fixed_range(f);
  if (x.is_nan()) throw QuantizeError(fmt::format("NaN input: fixed-point format {} has no NaN", Format(f).to_string()));
  if (x.is_inf()) {
    if (f.overflow == FixedOverflow::wrap)
      throw QuantizeError(fmt::format("infinite input: fixed-point format {} wraps and cannot saturate an infinity",
                                      Format(f).to_string()));
    GoldenResult r = fixed_from_code_value(f, !x.negative ? range.hi : range.lo);
    r.flags = flag::invalid;
    return r;
  }
  const Rational y = x.signed_value() * pow2(f.f);
  const BigInt d = floor_of(y);
  const Rational t = y - Rational(d);
  BigInt code = d;
  if (t != 0) {
    switch (rs.mode) {
      case Rounding::rne: code = d + ((t > Rational(1, 2) || (t == Rational(1, 2) && (d & 1) != 0)) ? 1 : 0); break;
      case Rounding::rna: code = d + ((t > Rational(1, 2) || (t == Rational(1, 2) && y > 0)) ? 1 : 0); break;
      case Rounding::rtz: code = y > 0 ? d : d + 1; break;
      case Rounding::rup: code = d + 1; break;
      case Rounding::rdn: code = d; break;
      case Rounding::sr: {
        const int R = rs.sr_bits;
        BigInt fr = floor_of(t * Rational(pow2_int(R)));
        code = d + ((fr + BigInt(word >> (32 - R)) >= pow2_int(R)) ? 1 : 0);
        break;
      }
    }
  }
  std::uint8_t flags = t != 0 ? flag::inexact : 0;
  if (code < range.lo || code > range.hi) {
    flags |= flag::overflow | flag::inexact;
    if (f.overflow == FixedOverflow::saturate) code = code < range.lo ? range.lo : range.hi;
    else {
      const BigInt modulus = pow2_int(f.width());
      BigInt low = code % modulus;  // C++ remainder keeps the sign of code
      if (low < 0) low += modulus;
      code = (f.is_signed && low > range.hi) ? low - modulus : low;
    }
  }
  GoldenResult r = fixed_from_code_value(f, code);
  r.flags = flags;
  return r;
}

// ---- Graham ----------------------------------------------------------------------------------------

// Largest non-negative double v (as bits) with pred(v) true, where pred is monotone (true then false)
// over the non-negative doubles ordered by bit pattern, extended by 2^1024 as "inf".
template <class Pred>
std::uint64_t last_true_double(Pred pred) {
  std::uint64_t lo = 0, hi = 0x7FF0000000000000ull;  // pred(0) true; treat inf as the bound
  while (hi - lo > 1) {
    std::uint64_t mid = lo + (hi - lo) / 2;
    if (pred(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

Rational double_bits_value(std::uint64_t bits) {
  if (bits == 0x7FF0000000000000ull) return pow2(1024);  // the grid point after the largest double
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return rational_from_double(d);
}

double bits_to_double(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// Nearest double to the irrational positive number z described by `below(v) := v < z` for dyadic v.
// z is irrational, so no midpoint equals it.
template <class Below>
double nearest_double_irrational(Below below) {
  std::uint64_t lo = last_true_double([&](std::uint64_t b) { return b == 0 || below(double_bits_value(b)); });
  const Rational mid = (double_bits_value(lo) + double_bits_value(lo + 1)) / 2;
  std::uint64_t pick = below(mid) ? lo + 1 : lo;
  return bits_to_double(pick);  // 0x7FF0... is +inf
}

double nearest_pow2_fraction(const BigInt& num, const BigInt& den) {
  // 2^(num/den), den > 0. Rational when den divides num.
  if (num % den == 0) return nearest_double(pow2(static_cast<std::int64_t>(num / den)));
  const auto b = static_cast<std::uint64_t>(den);
  // v < 2^(num/den)  <=>  v^den < 2^num
  return nearest_double_irrational([&](const Rational& v) {
    Rational p = rational_pow(v, b);
    return num >= 0 ? p < Rational(pow2_int(static_cast<std::int64_t>(num)))
                    : p < Rational(BigInt(1), pow2_int(static_cast<std::int64_t>(-num)));
  });
}

struct GrahamMemo {
  std::mutex mu;
  std::map<std::pair<std::string, std::int64_t>, std::pair<double, std::optional<Rational>>> values;
};
GrahamMemo& memo() {
  static GrahamMemo m;
  return m;
}

// Value magnitude of log-format index n: 2^(offset + n/k) = 2^((p*k + n*q) / (q*k)) with offset = p/q.
std::pair<double, std::optional<Rational>> log_value(const LogFormat& f, std::int64_t n) {
  const std::string key = Format(f).to_string();
  {
    std::lock_guard lock(memo().mu);
    auto it = memo().values.find({key, n});
    if (it != memo().values.end()) return it->second;
  }
  const BigInt p = numerator(f.offset), q = denominator(f.offset);
  const BigInt num = p * f.k + BigInt(n) * q, den = q * f.k;
  std::pair<double, std::optional<Rational>> result;
  if (num % den == 0) {
    Rational exact = pow2(static_cast<std::int64_t>(num / den));
    result = {nearest_double(exact), exact};
  } else {
    result = {nearest_pow2_fraction(num, den), std::nullopt};
  }
  std::lock_guard lock(memo().mu);
  memo().values[{key, n}] = result;
  return result;
}

std::pair<double, std::optional<Rational>> o4_value(std::int64_t n) {
  {
    std::lock_guard lock(memo().mu);
    auto it = memo().values.find({"graham_O4", n});
    if (it != memo().values.end()) return it->second;
  }
  // a^(n+1/2) - 1 = sqrt(a^(2n+1)) - 1 is irrational (129^(2n+1) is not a square).
  const Rational big = rational_pow(O4Format::base(), static_cast<std::uint64_t>(2 * n + 1));
  double v = nearest_double_irrational([&](const Rational& c) { return (c + 1) * (c + 1) < big; });
  std::pair<double, std::optional<Rational>> result{v, std::nullopt};
  std::lock_guard lock(memo().mu);
  memo().values[{"graham_O4", n}] = result;
  return result;
}

void check_graham_rounding(const Format& fmt_, RoundingSpec rs) {
  if (rs.mode != Rounding::rne)
    throw QuantizeError(fmt::format("format {} defines its own rounding; rounding mode {} is not allowed (only rne)",
                                    fmt_.name(), rounding_name(rs.mode)));
}

GoldenResult golden_log(const LogFormat& f, const ExactInput& x) {
  if (x.is_nan()) throw QuantizeError(fmt::format("NaN input: format {} has no NaN", Format(f).to_string()));
  GoldenResult r;
  r.negative = x.negative;
  if (x.is_zero()) {
    r.exact = Rational(0);
    r.value = signed_value(r.negative, 0.0);
    return r;  // no code
  }
  std::int64_t n;
  std::uint8_t flags = 0;
  if (x.is_inf()) {
    n = f.hi;
    flags = flag::invalid;
  } else {
    const Rational y = f.scale * x.magnitude;
    // floor(k*log2(y)) = floor(log2(y^k)), exactly.
    const std::int64_t raw = floor_log2(rational_pow(y, static_cast<std::uint64_t>(f.k)));
    n = std::clamp(raw, f.lo, f.hi);
    if (raw > f.hi) flags |= flag::overflow | flag::inexact;
    if (raw < f.lo) flags |= flag::underflow;
  }
  auto [value, exact] = log_value(f, n);
  const bool value_is_input = !x.is_inf() && exact && *exact == x.magnitude;
  if (!x.is_inf() && !value_is_input) flags |= flag::inexact;
  if (!(flags & flag::inexact)) flags &= static_cast<std::uint8_t>(~flag::underflow);
  const int w = Format(f).width();
  r.code = BigInt(n - f.lo) | (r.negative ? pow2_int(w - 1) : BigInt(0));
  r.exact = exact;
  r.value = signed_value(r.negative, value);
  r.flags = flags;
  return r;
}

GoldenResult golden_o4(const ExactInput& x) {
  if (x.is_nan()) throw QuantizeError("NaN input: format graham_O4 has no NaN");
  GoldenResult r;
  r.negative = x.negative;
  if (x.is_zero()) {
    r.exact = Rational(0);
    r.value = signed_value(r.negative, 0.0);
    return r;
  }
  std::int64_t n = 0;
  std::uint8_t flags = 0;
  if (x.is_inf()) {
    n = 7;
    flags = flag::invalid;
  } else {
    // floor(log_a(1+|x|)) = the largest j with a^j <= 1+|x|; stop once past the clamp at 7.
    const Rational y = 1 + x.magnitude;
    std::int64_t raw = 0;
    while (raw <= 7 && rational_pow(O4Format::base(), static_cast<std::uint64_t>(raw + 1)) <= y) ++raw;
    n = std::min<std::int64_t>(raw, 7);
    flags = flag::inexact;  // the values are irrational
    if (raw > 7) flags |= flag::overflow;
  }
  r.code = BigInt(n) | (r.negative ? BigInt(8) : BigInt(0));
  r.value = signed_value(r.negative, o4_value(n).first);
  r.flags = flags;
  return r;
}

GoldenResult golden_midrise(const MidriseFormat& f, const ExactInput& x) {
  if (x.is_nan()) throw QuantizeError(fmt::format("NaN input: format {} has no NaN", Format(f).to_string()));
  std::int64_t n;
  std::uint8_t flags = 0;
  if (x.is_inf()) {
    n = !x.negative ? f.hi : f.lo;
    flags = flag::invalid;
  } else {
    const BigInt raw = floor_of(f.s * x.signed_value());
    if (raw > f.hi) {
      n = f.hi;
      flags |= flag::overflow | flag::inexact;
    } else if (raw < f.lo) {
      n = f.lo;
      flags |= flag::underflow;
    } else {
      n = static_cast<std::int64_t>(raw);
    }
  }
  GoldenResult r;
  const Rational v = Rational(2 * BigInt(n) + 1) / (2 * f.s);
  if (!x.is_inf() && v != x.signed_value()) flags |= flag::inexact;
  if (!(flags & flag::inexact)) flags &= static_cast<std::uint8_t>(~flag::underflow);
  r.negative = v < 0;
  r.exact = r.negative ? Rational(-v) : v;
  r.value = signed_value(r.negative, nearest_double(*r.exact));
  r.code = BigInt(n - f.lo);
  r.flags = flags;
  return r;
}

}  // namespace

ExactInput ExactInput::from_double(double x) {
  ExactInput in;
  in.negative = std::signbit(x) && !std::isnan(x);
  if (std::isnan(x)) in.kind = ValueKind::nan;
  else if (std::isinf(x)) in.kind = ValueKind::infinite;
  else in.magnitude = rational_from_double(std::fabs(x));
  return in;
}

ExactInput ExactInput::from_rational(const Rational& v, bool negative_zero) {
  ExactInput in;
  in.negative = v < 0 || (v == 0 && negative_zero);
  in.magnitude = v < 0 ? Rational(-v) : v;
  return in;
}

double golden_nearest_double_pow2(const BigInt& num, const BigInt& den) { return nearest_pow2_fraction(num, den); }

GoldenResult golden_quantize_exact(const Format& format, const ExactInput& x, RoundingSpec rs, std::uint32_t word) {
  if (rs.mode == Rounding::sr && (rs.sr_bits < 1 || rs.sr_bits > 32))
    throw QuantizeError(fmt::format("sr bits must be 1..32, got {}", rs.sr_bits));
  if (format.has_own_rounding()) check_graham_rounding(format, rs);
  return std::visit(
      [&](const auto& f) -> GoldenResult {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, FloatFormat>) return golden_float(f, x, rs, word);
        else if constexpr (std::is_same_v<T, FixedFormat>) return golden_fixed(f, x, rs, word);
        else if constexpr (std::is_same_v<T, LogFormat>) return golden_log(f, x);
        else if constexpr (std::is_same_v<T, MidriseFormat>) return golden_midrise(f, x);
        else return golden_o4(x);
      },
      format.variant());
}

GoldenResult golden_quantize(const Format& format, double x, RoundingSpec rs, std::uint32_t word) {
  return golden_quantize_exact(format, ExactInput::from_double(x), rs, word);
}

GoldenResult golden_decode(const Format& format, const BigInt& code) {
  const int w = format.width();
  if (code < 0 || code >= pow2_int(w)) throw QuantizeError(fmt::format("code {} out of range for width {}", code.str(), w));
  GoldenResult r;
  r.code = code;
  if (format.is<FloatFormat>()) {
    const FloatFormat& f = format.as<FloatFormat>();
    FloatGrid g{f};
    const bool neg = f.is_signed && code >= g.sign_bit();
    const BigInt idx = neg ? BigInt(code - g.sign_bit()) : code;
    const BigInt field = idx >> f.m;
    const BigInt frac = idx & (pow2_int(f.m) - 1);
    const BigInt top = pow2_int(f.e) - 1;
    bool is_nan = false, is_inf = false;
    if (!f.is_signed) {
      is_nan = f.has_nan() && code == g.nan_code();
      is_inf = f.has_inf() && code == g.inf_index();
    } else switch (f.special) {
      case Special::ieee:
        if (field == top) (frac == 0 ? is_inf : is_nan) = true;
        break;
      case Special::fn: is_nan = idx == pow2_int(f.e + f.m) - 1; break;
      case Special::fnuz: is_nan = neg && idx == 0; break;
      case Special::inuz:
        is_nan = neg && idx == 0;
        is_inf = idx == g.sign_bit() - 1;
        break;
      case Special::none: break;
    }
    if (is_nan) {
      r.kind = ValueKind::nan;
      r.value = std::numeric_limits<double>::quiet_NaN();
      return r;
    }
    r.negative = neg;
    if (is_inf) {
      r.kind = ValueKind::infinite;
      r.value = signed_value(neg, std::numeric_limits<double>::infinity());
      return r;
    }
    r.exact = g.code_magnitude(idx);
    r.value = signed_value(neg, nearest_double(*r.exact));
    return r;
  }
  if (format.is<FixedFormat>()) {
    const FixedFormat& f = format.as<FixedFormat>();
    BigInt signed_code = code;
    if (f.is_signed && code >= pow2_int(w - 1)) signed_code -= pow2_int(w);
    GoldenResult d = fixed_from_code_value(f, signed_code);
    return d;
  }
  if (format.is<MidriseFormat>()) {
    const MidriseFormat& f = format.as<MidriseFormat>();
    const BigInt n = code + f.lo;
    if (n > f.hi) throw QuantizeError(fmt::format("code {} is not used by {}", code.str(), format.name()));
    const Rational v = Rational(2 * n + 1) / (2 * f.s);
    r.negative = v < 0;
    r.exact = r.negative ? Rational(-v) : v;
    r.value = signed_value(r.negative, nearest_double(*r.exact));
    return r;
  }
  const BigInt sign = pow2_int(w - 1);
  r.negative = code >= sign;
  const auto idx = static_cast<std::int64_t>(r.negative ? BigInt(code - sign) : code);
  if (format.is<LogFormat>()) {
    const LogFormat& f = format.as<LogFormat>();
    if (idx > f.hi - f.lo) throw QuantizeError(fmt::format("code {} is not used by {}", code.str(), format.name()));
    auto [v, exact] = log_value(f, idx + f.lo);
    r.exact = exact;
    r.value = signed_value(r.negative, v);
    return r;
  }
  r.value = signed_value(r.negative, o4_value(idx).first);
  return r;
}

FormatFacts golden_facts(const Format& format) {
  FormatFacts facts;
  if (format.is<FloatFormat>()) {
    const FloatFormat& f = format.as<FloatFormat>();
    FloatGrid g{f};
    if (f.subnormals && f.m > 0) facts.smallest_subnormal = pow2(f.emin() - f.m);
    facts.largest_finite = g.code_magnitude(g.max_index());
    if (f.has_inf()) facts.inf_code = g.inf_index();
    if (f.has_nan()) facts.nan_code = g.nan_code();
    // float(e=1,m>=1) with IEEE specials has subnormals only (its one non-zero exponent field is Inf
    // and NaN): no smallest normal, and no epsilon (the spacing of normal numbers relative to 1).
    if (facts.largest_finite >= pow2(f.emin())) {
      facts.smallest_normal = pow2(f.emin());
      facts.epsilon = pow2(-f.m);
    }
    return facts;
  }
  if (format.is<FixedFormat>()) {
    const FixedFormat& f = format.as<FixedFormat>();
    FixedRange range = fixed_range(f);
    facts.smallest_subnormal = pow2(-f.f);
    facts.epsilon = pow2(-f.f);
    facts.largest_finite = Rational(range.hi) * pow2(-f.f);
    facts.most_negative = Rational(range.lo) * pow2(-f.f);
    return facts;
  }
  throw QuantizeError(fmt::format("format {} has no float/fixed facts", format.name()));
}

}  // namespace bitsim::formats
