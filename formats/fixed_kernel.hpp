// Fast rounding of IEEE binary32/binary64 inputs to a fixed-point format (formats.md section 1):
// y = x * 2^f is formed exactly as significand and shift, rounded as a signed value, then saturated
// or wrapped. Internal to formats/; the public entry point is Quantizer.
#pragma once

#include "formats/format.hpp"
#include "formats/ieee_bits.hpp"
#include "formats/rounding.hpp"

#include <algorithm>
#include <cstdint>

namespace bitsim::formats::detail {

// True when every code value c * 2^-f is exactly representable in T.
template <class T> bool fixed_fits(const FixedFormat& f) {
  using C = Ieee<T>;
  const int magnitude_bits = f.is_signed ? f.width() - 1 : f.width();
  if (magnitude_bits > C::P) return false;  // every |code| <= 2^magnitude_bits is then exact in T
  if (-static_cast<std::int64_t>(f.f) < C::EMIN - (C::P - 1)) return false;  // quantum below T's smallest
  if (magnitude_bits - static_cast<std::int64_t>(f.f) > C::EMAX) return false;
  return true;
}

struct FixedConsts {
  int F;
  int width;
  bool is_signed, wrap;
  std::uint64_t pos_limit;   // largest magnitude of a non-negative code
  std::uint64_t neg_limit;   // largest magnitude of a negative code (0 for unsigned)
  std::uint64_t width_mask;
  int sr_bits;

  explicit FixedConsts(const FixedFormat& f, int sr_bits_ = 32) {
    F = f.f;
    width = f.width();
    is_signed = f.is_signed;
    wrap = f.overflow == FixedOverflow::wrap;
    width_mask = width == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
    if (is_signed) {
      pos_limit = (std::uint64_t{1} << (width - 1)) - 1;
      neg_limit = std::uint64_t{1} << (width - 1);
    } else {
      pos_limit = width_mask;
      neg_limit = 0;
    }
    sr_bits = sr_bits_;
  }
};

struct FixedRounded {
  std::int64_t value_code;   // the code as a signed integer (for unsigned formats: the code itself)
  std::uint64_t code;        // the code's bit pattern (low `width` bits)
  bool inexact, overflow, invalid, nan_input, inf_wrap_error;
};

template <class T, Rounding MODE>
[[gnu::always_inline]] inline FixedRounded round_fixed(const FixedConsts& k, T x, std::uint32_t word) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  using S = typename C::S;
  constexpr int P = C::P;

  const U u = to_bits<T>(x);
  const U a = u & C::ABS;
  const bool neg = (u & C::SIGN) != 0;
  const bool special = a >= C::EXPMASK;
  const bool is_nan = a > C::EXPMASK;
  const S ef = static_cast<S>(a >> (P - 1));
  const U sig = ef != 0 ? ((a & C::FRAC) | C::IMPLICIT) : a;
  const S qf = (ef != 0 ? ef - C::BIAS : static_cast<S>(C::EMIN)) - (P - 1);
  // |y| = sig * 2^(qf + F); s = number of bits below the binary point.
  const std::int64_t s_raw = -(static_cast<std::int64_t>(qf) + k.F);

  std::uint64_t kept = 0, rem = 0, half = 0;
  bool huge = false;  // |y| >= 2^64: out of every code range
  if (s_raw <= 0) {
    const std::int64_t left = -s_raw;
    const std::uint64_t sig64 = static_cast<std::uint64_t>(sig);
    // kept holds |y| mod 2^64, which is all that wrap needs; huge marks |y| >= 2^64.
    huge = sig64 != 0 && (left >= 64 || (left > 0 && (sig64 >> (64 - left)) != 0));
    kept = left >= 64 ? 0 : (sig64 << left);
  } else {
    const std::int64_t s = std::min<std::int64_t>(s_raw, P + 1);
    rem = static_cast<std::uint64_t>(sig) & ((std::uint64_t{1} << s) - 1);
    kept = static_cast<std::uint64_t>(sig) >> s;
    half = std::uint64_t{1} << (s - 1);
  }
  const bool nonzero_rem = rem != 0;

  bool up;  // magnitude rounds up
  if constexpr (MODE == Rounding::rne) {
    up = nonzero_rem && (rem > half || (rem == half && (kept & 1)));
  } else if constexpr (MODE == Rounding::rna) {
    up = nonzero_rem && rem >= half;
  } else if constexpr (MODE == Rounding::rtz) {
    up = false;
  } else if constexpr (MODE == Rounding::rup) {
    up = nonzero_rem && !neg;
  } else if constexpr (MODE == Rounding::rdn) {
    up = nonzero_rem && neg;
  } else {
    // On the signed value y, d = floor(y), t = y - d: code d+1 when floor(t*2^R) + r >= 2^R.
    // For y >= 0 (t = frac of |y|): magnitude up when f + r >= 2^R, f = floor(frac*2^R).
    // For y < 0 (t = 1 - frac): magnitude down when r >= ceil(frac*2^R), i.e. up when r < ceil(...).
    const int R = k.sr_bits;
    const std::uint64_t r = word >> (32 - R);
    const std::uint64_t maskR = (std::uint64_t{1} << R) - 1;
    const std::int64_t sh = s_raw - R;
    std::uint64_t f;
    bool exact_scaled;  // frac * 2^R is an integer
    if (s_raw <= 0) {
      f = 0;
      exact_scaled = true;
    } else if (sh >= 0) {
      f = sh >= 64 ? 0 : rem >> sh;
      exact_scaled = sh >= 64 ? rem == 0 : (rem & ((std::uint64_t{1} << sh) - 1)) == 0;
    } else {
      f = rem << (-sh);
      exact_scaled = true;
    }
    if (!neg) up = f > maskR - r;
    else up = r < f + (exact_scaled ? 0 : 1);
  }

  const std::uint64_t mag = kept + (up ? 1 : 0);
  const bool mag_overflow = mag < kept;  // cannot happen unless kept == 2^64-1
  bool ovf = huge || mag_overflow || (neg ? mag > k.neg_limit : mag > k.pos_limit);

  std::int64_t code_signed;
  if (!ovf) {
    code_signed = neg ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
  } else if (!k.wrap) {
    code_signed = neg ? (k.is_signed ? static_cast<std::int64_t>(0 - k.neg_limit) : 0)
                      : static_cast<std::int64_t>(k.pos_limit);
  } else {
    const std::uint64_t twos = (neg ? (0 - mag) : mag) & k.width_mask;
    if (k.is_signed && k.width < 64 && (twos >> (k.width - 1)) != 0) code_signed = static_cast<std::int64_t>(twos | ~k.width_mask);
    else code_signed = static_cast<std::int64_t>(twos);
  }
  if (special && !is_nan) {
    code_signed = neg ? (k.is_signed ? static_cast<std::int64_t>(0 - k.neg_limit) : 0) : static_cast<std::int64_t>(k.pos_limit);
    ovf = false;
  }

  FixedRounded out;
  out.value_code = code_signed;
  out.code = static_cast<std::uint64_t>(code_signed) & k.width_mask;
  out.nan_input = is_nan;
  out.inf_wrap_error = special && !is_nan && k.wrap;
  out.invalid = special && !is_nan;
  out.overflow = ovf;
  out.inexact = !special && (nonzero_rem || ovf);
  return out;
}

}  // namespace bitsim::formats::detail
