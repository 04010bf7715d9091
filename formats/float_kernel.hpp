// Fast rounding of IEEE binary32/binary64 inputs to a float format, by integer operations on the
// input's bit pattern. Internal to formats/; the public entry point is Quantizer.
//
// The kernel is valid when every value of the target format (subnormals included) is exactly
// representable in T: then every rounding candidate is a T value and the rounded magnitude can be
// formed by masking and adding on T's bit pattern (a carry out of the fraction correctly bumps the
// exponent). All per-format constants are hoisted into FloatConsts; the per-element function is
// branch-free so the array loops vectorize (variable shifts are AVX2 vpsrlv/vpsllv).
#pragma once

#include "formats/format.hpp"
#include "formats/ieee_bits.hpp"
#include "formats/rounding.hpp"

#include <algorithm>
#include <cstdint>

namespace bitsim::formats::detail {

// min/max by value: std::min/max return references, whose address selection blocks vectorization.
template <class V> [[gnu::always_inline]] inline V vmin(V a, V b) { return a < b ? a : b; }
template <class V> [[gnu::always_inline]] inline V vmax(V a, V b) { return a > b ? a : b; }

// True when all values of f are exactly representable in T (see header comment).
template <class T> bool float_fits(const FloatFormat& f) {
  using C = Ieee<T>;
  if (f.m > C::P - 1) return false;
  if (f.e + f.m > 63) return false;
  const std::int64_t emin = f.emin();
  const std::int64_t min_quantum = emin - f.m;
  if (min_quantum < C::EMIN - (C::P - 1)) return false;
  // exponent of the largest finite value (and of the first grid point above it, which the kernel forms
  // on overflow: it must not exceed T's Inf pattern).
  const std::uint64_t max_idx = f.max_finite_index() + f.grid_offset();
  const std::int64_t field = static_cast<std::int64_t>(max_idx >> f.m);
  const std::int64_t emax = (field == 0 ? emin : emin - 1 + field);
  return emax <= C::EMAX;
}

template <class T> struct FloatConsts {
  using C = IeeeConst<T>;
  using U = typename C::U;
  using S = typename C::S;

  S emin, M;
  U max_bits;          // T bits of the largest finite magnitude
  U min_normal_bits;   // T bits of 2^emin
  U smallest_bits;     // T bits of the smallest value: 0, or 2^emin in a format without zero
  U min_sub_bits;      // T bits of 2^(emin - M), the smallest subnormal
  U overflow_bits;     // T bits (magnitude, or QNAN) the overflow policy gives
  U inf_input_bits;    // T bits an infinite input gives (differs from overflow_bits under satpropagate)
  bool overflow_is_nan;
  bool subnormals;
  bool unsigned_zero;  // no -0 (fnuz, inuz): a zero result is +0
  bool unsigned_format;  // no sign bit: a negative input gives the smallest value (+0)
  bool no_zero;          // code 0 is 2^emin: zero and smaller inputs give it
  bool has_nan;
  bool m_is_zero;
  // T's exponent range, subnormals and IEEE specials with overflow to infinity, M < P-1 (bf16 and tf32
  // from float): every finite input, subnormal or not, rounds by an add and a mask on its bit pattern.
  bool whole_range;
  int sr_bits;
  // codes
  std::uint64_t max_index, sign_code, nan_code, inf_code, overflow_code, inf_input_code;
  std::uint64_t grid_offset;  // grid index of code 0 (FloatFormat::grid_offset)
  U code_parity;              // 1 when a code's parity is its grid index's flipped (no zero and m = 0)

  explicit FloatConsts(const FloatFormat& f, int sr_bits_ = 32) {
    emin = static_cast<S>(f.emin());
    M = f.m;
    const std::uint64_t mi = f.max_finite_index();
    const std::int64_t field = static_cast<std::int64_t>((mi + f.grid_offset()) >> f.m);
    const std::uint64_t frac = mi & ((std::uint64_t{1} << f.m) - 1);
    // Products of an integer below 2^P and a power of two, exact in T by float_fits.
    if (field == 0) {
      max_bits = to_bits<T>(static_cast<T>(frac) * from_bits<T>(pow2_bits<T>(f.emin() - f.m)));
    } else {
      const T sig = static_cast<T>((std::uint64_t{1} << f.m) + frac);
      max_bits = to_bits<T>(sig * from_bits<T>(pow2_bits<T>(f.emin() - 1 + field - f.m)));
    }
    min_normal_bits = pow2_bits<T>(f.emin());
    smallest_bits = f.has_zero ? U{0} : min_normal_bits;
    min_sub_bits = pow2_bits<T>(f.emin() - f.m);
    overflow_is_nan = f.overflow == FloatOverflow::nan;
    overflow_bits = f.overflow == FloatOverflow::inf ? C::EXPMASK : f.overflow == FloatOverflow::nan ? C::QNAN : max_bits;
    inf_input_bits = f.keeps_infinite_inputs() ? C::EXPMASK : overflow_bits;
    subnormals = f.subnormals;
    unsigned_zero = !f.has_negative_zero();
    unsigned_format = !f.is_signed;
    no_zero = !f.has_zero;
    has_nan = f.has_nan();
    m_is_zero = f.m == 0;
    whole_range = f.emin() == C::EMIN && f.subnormals && f.special == Special::ieee && f.overflow == FloatOverflow::inf &&
                  f.m >= 1 && f.m < C::P - 1 && max_bits == C::EXPMASK - (U{1} << (C::P - 1 - f.m));
    sr_bits = sr_bits_;
    max_index = mi;
    sign_code = std::uint64_t{1} << (f.e + f.m);
    nan_code = f.nan_code();
    inf_code = f.inf_index();
    overflow_code = f.overflow == FloatOverflow::inf ? inf_code : f.overflow == FloatOverflow::nan ? nan_code : max_index;
    inf_input_code = f.keeps_infinite_inputs() ? inf_code : overflow_code;
    grid_offset = f.grid_offset();
    code_parity = static_cast<U>(grid_offset & 1);
  }
};

// Everything one rounding produces; array loops use only `bits`, the compiler drops the rest.
template <class T> struct FloatRounded {
  typename Ieee<T>::U bits;   // the result as T bits (sign included)
  std::uint64_t code;         // the format's code
  bool inexact, overflow, underflow, invalid, nan_input;
  bool negative_clamped;      // a negative input to an unsigned format, which gave the smallest value
};

// Rounds one element. `word` is its random word (used only by MODE == sr).
// Written without branches (selects and bitwise logic on bools only) and with every integer in T's
// own width where the array loops need it, so that GCC if-converts and vectorizes those loops.
template <class T, Rounding MODE>
[[gnu::always_inline]] inline FloatRounded<T> round_float(const FloatConsts<T>& k, T x, std::uint32_t word) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  using S = typename C::S;
  constexpr int P = C::P;
  constexpr int W = C::W;

  const U u = to_bits<T>(x);
  const U sign = u & C::SIGN;
  const U a = u & C::ABS;
  const bool neg = sign != 0;
  const bool special = a >= C::EXPMASK;
  const bool is_nan = a > C::EXPMASK;
  const S ef = static_cast<S>(a >> (P - 1));
  const bool normal = ef != 0;
  // Unbiased exponent floor(log2|x|); a subnormal input is normalised by an exact multiply by 2^(P-1).
  const T scaled = from_bits<T>(a) * from_bits<T>(static_cast<U>(static_cast<U>(C::BIAS + P - 1) << (P - 1)));
  const S e_sub = static_cast<S>(to_bits<T>(scaled) >> (P - 1)) - C::BIAS - (P - 1);
  const S e_true = normal ? ef - C::BIAS : e_sub;
  const U sig = normal ? ((a & C::FRAC) | C::IMPLICIT) : a;
  const S qf = (normal ? ef - C::BIAS : static_cast<S>(C::EMIN)) - (P - 1);
  const S eq = vmax<S>(e_true, k.emin);
  // s_raw = number of input bits to drop (>= 0 under float_fits); beyond P+1 the kept part is 0.
  const S s_raw = vmax<S>(eq - k.M - qf, 0);
  const S s = vmin<S>(s_raw, P + 1);
  const U low_mask = (U{1} << s) - 1;
  const U rem = sig & low_mask;
  const U kept = sig >> s;
  const U half = (U{1} << s) >> 1;
  const bool nonzero_rem = rem != 0;

  bool up;
  if constexpr (MODE == Rounding::rne) {
    // Ties go to the even code: for m = 0 the parity of the grid index (eq - emin + kept), flipped when
    // code 0 is grid index 1 (no zero); for m >= 1 the offset 2^m is even.
    const U parity = k.m_is_zero ? (static_cast<U>(eq - k.emin) + kept + k.code_parity) & 1 : kept & 1;
    up = (rem > half) | ((rem == half) & nonzero_rem & (parity != 0));
  } else if constexpr (MODE == Rounding::rna) {
    up = nonzero_rem & (rem >= half);
  } else if constexpr (MODE == Rounding::rtz) {
    up = false;
  } else if constexpr (MODE == Rounding::rup) {
    up = nonzero_rem & !neg;
  } else if constexpr (MODE == Rounding::rdn) {
    up = nonzero_rem & neg;
  } else {
    // With t = rem / 2^S (S = s_raw) and f = floor(t * 2^R), the result rounds up iff f + r >= 2^R.
    // S <= R: iff (r >> (R-S)) > (2^S - 1) - rem.   S > R: iff (rem >> (S-R)) > (2^R - 1) - r.
    // (rem = sig mod 2^S also when S > P+1, since sig < 2^P.) Every shift stays below W.
    const S R = k.sr_bits;
    const U r = static_cast<U>(word >> (32 - R));
    const U mask_R = static_cast<U>((std::uint64_t{1} << R) - 1);
    const bool s_le_r = s_raw <= R;
    const U mask_S = s_raw >= W ? ~U{0} : static_cast<U>((U{1} << vmin<S>(s_raw, W - 1)) - 1);
    const U lhs = s_le_r ? static_cast<U>(r >> vmin<S>(R - s_raw, W - 1)) : static_cast<U>(rem >> vmin<S>(s_raw - R, W - 1));
    const U rhs = s_le_r ? static_cast<U>(mask_S - rem) : static_cast<U>(mask_R - r);
    // R - s_raw = 32 (s_raw = 0) would need a shift by 32: there is nothing to round then.
    up = (s_raw > 0) & (lhs > rhs);
  }

  // Rounded magnitude in T bits: clear the dropped bits and add one input quantum-step of the target
  // (a carry out of the fraction bumps the exponent); when every bit is dropped the only non-zero
  // candidate is the smallest subnormal.
  const bool all_dropped = s > P - 1;
  const U trunc = all_dropped ? U{0} : (a & ~low_mask);
  const U step = all_dropped ? k.min_sub_bits : (U{1} << s);
  const U rb = trunc + (up ? step : U{0});
  const bool ovf = !special & (rb > k.max_bits);
  const bool toward_zero = MODE == Rounding::rtz || (MODE == Rounding::rup && neg) || (MODE == Rounding::rdn && !neg);
  const bool flush = !k.subnormals & (rb != 0) & (rb < k.min_normal_bits);

  // An unsigned format has no negative values: a negative input (-Inf included) gives the smallest
  // value, +0 or (no zero) 2^emin. A format without zero gives 2^emin for zero and anything below it.
  const bool clamped = k.unsigned_format & neg & !is_nan & (a != 0);
  const bool below_smallest = k.no_zero & !special & (a < k.min_normal_bits);
  U mag = flush ? U{0} : rb;
  mag = ovf ? (toward_zero ? k.max_bits : k.overflow_bits) : mag;
  mag = special ? (is_nan ? C::QNAN : k.inf_input_bits) : mag;
  mag = (clamped | below_smallest) ? k.smallest_bits : mag;
  const bool result_nan = mag == C::QNAN;
  const bool drop_sign = result_nan | k.unsigned_format | (k.unsigned_zero & (mag == 0));

  FloatRounded<T> out;
  out.bits = mag | (drop_sign ? U{0} : sign);

  // Code: grid index ((eq - emin) << M) + kept + up on the normal or subnormal grid, less the grid
  // index of code 0.
  std::uint64_t index = (static_cast<std::uint64_t>(eq - k.emin) << k.M) + static_cast<std::uint64_t>(kept) + (up ? 1u : 0u);
  index = flush ? 0 : index - k.grid_offset;
  index = ovf ? (toward_zero ? k.max_index : k.overflow_code) : index;
  index = special ? (is_nan ? k.nan_code : k.inf_input_code) : index;
  index = (clamped | below_smallest) ? 0 : index;
  const bool unsigned_code = result_nan | drop_sign | !neg;
  out.code = result_nan ? k.nan_code : (unsigned_code ? index : (index | k.sign_code));

  out.nan_input = is_nan;
  out.negative_clamped = clamped;
  // Invalid: an infinite input that does not stay infinite, or a negative input to an unsigned format.
  out.invalid = (special & (!is_nan) & (k.inf_input_bits != C::EXPMASK)) | clamped;
  out.overflow = ovf & !clamped;
  out.inexact = (!special) & (nonzero_rem | ovf | flush | clamped | below_smallest);
  // Tininess after rounding is computed by the caller that needs flags (see float_tiny); a format
  // without zero underflows on every input below its smallest value.
  out.underflow = (flush | below_smallest) & !clamped;
  return out;
}

// Tininess after rounding for a finite non-zero input: the magnitude rounded to M+1 significant bits
// with unbounded exponent range is below 2^emin. Only the scalar path with flags calls this.
template <class T, Rounding MODE>
bool float_tiny(const FloatConsts<T>& k, T x, std::uint32_t word) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  using S = typename C::S;
  constexpr int P = C::P;
  const U u = to_bits<T>(x);
  const U a = u & C::ABS;
  const bool neg = (u & C::SIGN) != 0;
  const S ef = static_cast<S>(a >> (P - 1));
  S e_true;
  if (ef != 0) e_true = ef - C::BIAS;
  else e_true = static_cast<S>(C::EMIN - (P - 1) + (C::W - 1 - std::countl_zero(a)));
  if (e_true >= k.emin) return false;
  if (e_true < k.emin - 1) return true;
  // e_true == emin - 1: tiny unless the significand rounds up to 2^(M+1) (value 2^emin).
  const U sig = ef != 0 ? ((a & C::FRAC) | C::IMPLICIT) : a;
  const S qf = (ef != 0 ? ef - C::BIAS : static_cast<S>(C::EMIN)) - (P - 1);
  const S s = (e_true - k.M) - qf;
  if (s <= 0) return true;  // exact at this precision, and below 2^emin
  const U kept = s >= C::W ? U{0} : sig >> s;
  const U rem = s >= C::W ? sig : sig & ((U{1} << s) - 1);
  const bool nonzero = rem != 0;
  bool up;
  if constexpr (MODE == Rounding::rne || MODE == Rounding::rna) {
    const bool above_half = s > C::W ? false : (s == C::W ? false : rem > (U{1} << (s - 1)));
    const bool at_half = s <= C::W - 1 && rem == (U{1} << (s - 1));
    const bool odd = k.m_is_zero ? (((e_true - k.emin) & 1) == 0) : (kept & 1) != 0;
    up = above_half || (at_half && (MODE == Rounding::rna || odd));
  } else if constexpr (MODE == Rounding::rtz) {
    up = false;
  } else if constexpr (MODE == Rounding::rup) {
    up = nonzero && !neg;
  } else if constexpr (MODE == Rounding::rdn) {
    up = nonzero && neg;
  } else {
    const int R = k.sr_bits;
    const std::uint64_t r = word >> (32 - R);
    const std::uint64_t maskR = (std::uint64_t{1} << R) - 1;
    const S sh = s - R;
    std::uint64_t f = sh >= 0 ? (sh >= 64 ? 0 : static_cast<std::uint64_t>(rem) >> sh) : static_cast<std::uint64_t>(rem) << (-sh);
    up = f > maskR - r;
  }
  const std::uint64_t rounded = static_cast<std::uint64_t>(kept) + (up ? 1 : 0);
  return rounded < (std::uint64_t{2} << k.M);
}

}  // namespace bitsim::formats::detail
