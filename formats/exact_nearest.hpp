// Exact searches over the values of an IEEE type T (float or double): the nearest T to a number given
// only by exact comparisons, and the smallest T at or above an exact threshold. Used by the golden
// path and to build the fast path's Graham tables. Internal to formats/.
#pragma once

#include "formats/exact_number.hpp"
#include "formats/ieee_bits.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace bitsim::formats::detail {

// Monotone key of T values: key(a) < key(b) iff a < b (with -0 just below +0). NaNs excluded.
template <class T> inline typename Ieee<T>::U order_key(T x) {
  using C = IeeeConst<T>;
  auto u = to_bits<T>(x);
  return (u & C::SIGN) ? static_cast<typename C::U>(~u) : static_cast<typename C::U>(u | C::SIGN);
}
template <class T> inline T from_order_key(typename Ieee<T>::U k) {
  using C = IeeeConst<T>;
  return from_bits<T>((k & C::SIGN) ? static_cast<typename C::U>(k & ~C::SIGN) : static_cast<typename C::U>(~k));
}

// Exact rational of a finite T; +-inf maps to +-2^(EMAX+1), the grid point after the largest finite.
template <class T> Rational exact_of(T x) {
  if (std::isinf(x)) return x > 0 ? pow2(Ieee<T>::EMAX + 1) : Rational(-pow2(Ieee<T>::EMAX + 1));
  return rational_from_double(static_cast<double>(x));
}

// The nearest T (ties to even; +inf beyond the range) to a positive irrational z known through
// below(v) := (v < z) for exact v. With a positive finite `guess` near z (a floating approximation), a
// local walk from it settles z between two neighbours in a few evaluations of below(); otherwise, or
// when the guess is more than 64 steps off, a bisection over T's positive bit patterns does (about 64
// evaluations, each of which may be costly: the fuzzer found Graham formats whose table took minutes).
template <class T, class Below> T nearest_irrational(Below below, T guess = T(0)) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  auto below_key = [&](U k) { return below(exact_of<T>(from_bits<T>(k))); };
  // lo < z < lo + 1 (z irrational): pick by the midpoint.
  auto finish = [&](U lo) {
    const Rational mid = (exact_of<T>(from_bits<T>(lo)) + exact_of<T>(from_bits<T>(lo + 1))) / 2;
    return from_bits<T>(below(mid) ? lo + 1 : lo);
  };
  if (guess > 0 && std::isfinite(guess)) {
    U k = to_bits<T>(guess);
    for (int step = 0; step < 64; ++step) {
      if (below_key(k)) {
        if (k + 1 >= C::EXPMASK) break;  // z may be beyond the largest finite: the bisection decides
        if (!below_key(k + 1)) return finish(k);
        ++k;
      } else {
        if (k == 0) break;
        --k;
      }
    }
  }
  U lo = 0, hi = C::EXPMASK;  // below(0) holds; treat +inf (2^(EMAX+1)) as the upper bound
  while (hi - lo > 1) {
    U mid = lo + (hi - lo) / 2;
    if (below_key(mid)) lo = mid;
    else hi = mid;
  }
  return finish(lo);
}

// The nearest T (ties to even; +-inf beyond the range) to an exact rational.
template <class T> T nearest_rational(const Rational& r) {
  using C = Ieee<T>;
  if (r == 0) return T(0);
  const bool neg = r < 0;
  const Rational mag = neg ? Rational(-r) : r;
  const std::int64_t e = std::max<std::int64_t>(floor_log2(mag), C::EMIN);
  T out;
  if (e > C::EMAX) {
    out = std::numeric_limits<T>::infinity();
  } else {
    const Rational scaled = mag / pow2(e - (C::P - 1));
    BigInt lower = boost::multiprecision::numerator(scaled) / boost::multiprecision::denominator(scaled);
    const Rational rest = scaled - Rational(lower);
    if (rest > Rational(1, 2) || (rest == Rational(1, 2) && (lower & 1) != 0)) lower += 1;
    out = static_cast<T>(std::ldexp(static_cast<double>(static_cast<std::uint64_t>(lower)), static_cast<int>(e - (C::P - 1))));
  }
  return neg ? -out : out;
}

// The smallest T v (over all non-NaN T, -inf..+inf) with at_least(exact(v)) true, where at_least is
// monotone (false then true). `guess` starts a local walk; a bisection finishes if the walk is long.
// Returns +inf when no finite T satisfies it (and at_least(2^(EMAX+1)) is taken as true).
template <class T, class AtLeast> T smallest_at_least(AtLeast at_least, T guess) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  auto holds = [&](U key) { return at_least(exact_of<T>(from_order_key<T>(key))); };
  const U key_lo = order_key<T>(-std::numeric_limits<T>::infinity());
  const U key_hi = order_key<T>(std::numeric_limits<T>::infinity());
  if (std::isnan(guess)) guess = T(0);
  U key = order_key<T>(guess);
  // Local walk: at most 64 steps either way.
  for (int step = 0; step < 64; ++step) {
    const bool h = holds(key);
    if (h) {
      if (key == key_lo || !holds(key - 1)) return from_order_key<T>(key);
      --key;
    } else {
      if (key == key_hi) return from_order_key<T>(key_hi);
      if (holds(key + 1)) return from_order_key<T>(key + 1);
      ++key;
    }
  }
  // Bisection over the whole ordered range.
  U lo = key_lo, hi = key_hi;  // invariant: answer in [lo, hi]
  if (holds(lo)) return from_order_key<T>(lo);
  while (hi - lo > 1) {
    U mid = lo + (hi - lo) / 2;
    if (holds(mid)) hi = mid;
    else lo = mid;
  }
  return from_order_key<T>(hi);
}

}  // namespace bitsim::formats::detail
