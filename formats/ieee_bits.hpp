// Bit-level facts about the IEEE binary32/binary64 input types the fast kernels read.
// Internal to formats/.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

namespace bitsim::formats::detail {

template <class T> struct Ieee;

template <> struct Ieee<float> {
  using U = std::uint32_t;   // bit pattern
  using S = std::int32_t;    // signed lane type for exponents (same width, so loops vectorize)
  static constexpr int W = 32;
  static constexpr int P = 24;          // significand bits including the implicit one
  static constexpr int BIAS = 127;
  static constexpr int EMIN = -126;     // exponent of the smallest normal
  static constexpr int EMAX = 127;
};

template <> struct Ieee<double> {
  using U = std::uint64_t;
  using S = std::int64_t;
  static constexpr int W = 64;
  static constexpr int P = 53;
  static constexpr int BIAS = 1023;
  static constexpr int EMIN = -1022;
  static constexpr int EMAX = 1023;
};

template <class T> struct IeeeConst : Ieee<T> {
  using U = typename Ieee<T>::U;
  static constexpr U SIGN = U{1} << (Ieee<T>::W - 1);
  static constexpr U ABS = SIGN - 1;
  static constexpr U FRAC = (U{1} << (Ieee<T>::P - 1)) - 1;
  static constexpr U IMPLICIT = U{1} << (Ieee<T>::P - 1);
  static constexpr U EXPMASK = ABS & ~FRAC;  // also the bits of +Inf
  static constexpr U QNAN = EXPMASK | (U{1} << (Ieee<T>::P - 2));
};

template <class T> inline typename Ieee<T>::U to_bits(T x) { return std::bit_cast<typename Ieee<T>::U>(x); }
template <class T> inline T from_bits(typename Ieee<T>::U u) { return std::bit_cast<T>(u); }

// Exact bits of 2^k in T, or 0 when 2^k is not representable (callers check representability first).
template <class T> inline typename Ieee<T>::U pow2_bits(std::int64_t k) {
  using C = IeeeConst<T>;
  using U = typename C::U;
  if (k >= C::EMIN && k <= C::EMAX) return static_cast<U>(k + C::BIAS) << (C::P - 1);
  const std::int64_t sub = k - (C::EMIN - (C::P - 1));  // position within the subnormal significand
  if (sub >= 0 && sub < C::P - 1) return U{1} << sub;
  return 0;
}

}  // namespace bitsim::formats::detail
