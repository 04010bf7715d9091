#include "formats/graham_tables.hpp"

#include "formats/exact_nearest.hpp"
#include "formats/rounding.hpp"

#include <fmt/format.h>

#include <cmath>

namespace bitsim::formats::detail {

namespace {

using boost::multiprecision::denominator;
using boost::multiprecision::numerator;

BigInt big_pow(BigInt base, std::uint64_t exp) {
  BigInt r = 1;
  while (exp) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

Rational rational_pow(const Rational& b, std::uint64_t e) {
  return Rational(big_pow(numerator(b), e), big_pow(denominator(b), e));
}

Rational pow2_rational(const BigInt& k) { return pow2(static_cast<std::int64_t>(k)); }

// 2^(num/den) as (nearest T, exact?) for den > 0.
template <class T> std::pair<T, bool> pow2_fraction(const BigInt& num, const BigInt& den) {
  if (num % den == 0) {
    const Rational exact = pow2_rational(num / den);
    const T v = nearest_rational<T>(exact);
    return {v, !std::isinf(v) && exact_of<T>(v) == exact};
  }
  const auto b = static_cast<std::uint64_t>(den);
  // A floating approximation to start the exact search from (within a few ulps of the answer).
  const long double guess = std::exp2(num.template convert_to<long double>() / den.template convert_to<long double>());
  const T v = nearest_irrational<T>(
      [&](const Rational& c) {
        const Rational p = rational_pow(c, b);
        return num >= 0 ? p < Rational(BigInt(1) << static_cast<unsigned>(num))
                        : p < Rational(BigInt(1), BigInt(1) << static_cast<unsigned>(-num));
      },
      static_cast<T>(guess));
  return {v, false};
}

template <class T> GrahamTable<T> build_log(const LogFormat& f) {
  GrahamTable<T> t;
  t.on_magnitude = true;
  t.lo = f.lo;
  t.hi = f.hi;
  t.width = f.width();
  t.sign_code = std::uint64_t{1} << (t.width - 1);
  const auto K = static_cast<std::uint64_t>(f.k);
  const long double scale_ld = static_cast<long double>(static_cast<double>(f.scale));
  // Unclamped index >= j  <=>  (scale*|x|)^k >= 2^j.
  for (std::int64_t j = f.lo; j <= f.hi + 1; ++j) {
    const Rational target = pow2(j);
    auto at_least = [&](const Rational& v) { return v > 0 && rational_pow(f.scale * v, K) >= target; };
    const long double guess = std::exp2(static_cast<long double>(j) / static_cast<long double>(f.k)) / scale_ld;
    t.th.push_back(smallest_at_least<T>(at_least, static_cast<T>(guess)));
  }
  const BigInt p = numerator(f.offset), q = denominator(f.offset);
  for (std::int64_t n = f.lo; n <= f.hi; ++n) {
    auto [v, exact] = pow2_fraction<T>(p * f.k + BigInt(n) * q, q * f.k);
    t.value.push_back(v);
    t.value_exact.push_back(exact);
  }
  return t;
}

template <class T> GrahamTable<T> build_o4() {
  GrahamTable<T> t;
  t.on_magnitude = true;
  t.lo = 0;
  t.hi = 7;
  t.width = 4;
  t.sign_code = 8;
  const Rational a = O4Format::base();
  // Unclamped index >= j  <=>  1 + |x| >= a^j.
  for (std::int64_t j = 0; j <= 8; ++j) {
    const Rational target = rational_pow(a, static_cast<std::uint64_t>(j));
    auto at_least = [&](const Rational& v) { return v > 0 && 1 + v >= target; };
    const long double guess = std::pow(1.29L, static_cast<long double>(j)) - 1.0L;
    t.th.push_back(smallest_at_least<T>(at_least, static_cast<T>(guess)));
  }
  for (std::int64_t n = 0; n <= 7; ++n) {
    const Rational big = rational_pow(a, static_cast<std::uint64_t>(2 * n + 1));
    // a^(n+1/2) - 1 is irrational: 129^(2n+1) is not a perfect square.
    t.value.push_back(nearest_irrational<T>([&](const Rational& c) { return (c + 1) * (c + 1) < big; }));
    t.value_exact.push_back(false);
  }
  return t;
}

template <class T> GrahamTable<T> build_midrise(const MidriseFormat& f) {
  GrahamTable<T> t;
  t.on_magnitude = false;
  t.lo = f.lo;
  t.hi = f.hi;
  t.width = f.width();
  const long double s_ld = static_cast<long double>(static_cast<double>(f.s));
  t.guess_scale = static_cast<T>(s_ld);
  // Unclamped index >= j  <=>  s*x >= j.
  for (std::int64_t j = f.lo; j <= f.hi + 1; ++j) {
    auto at_least = [&](const Rational& v) { return f.s * v >= j; };
    t.th.push_back(smallest_at_least<T>(at_least, static_cast<T>(static_cast<long double>(j) / s_ld)));
  }
  for (std::int64_t n = f.lo; n <= f.hi; ++n) {
    const Rational exact = Rational(2 * BigInt(n) + 1) / (2 * f.s);
    const T v = nearest_rational<T>(exact);
    t.value.push_back(v);
    t.value_exact.push_back(!std::isinf(v) && exact_of<T>(v) == exact);
  }
  return t;
}

}  // namespace

template <class T> GrahamTable<T> build_graham_table(const Format& f) {
  if (f.is<O4Format>()) return build_o4<T>();
  if (f.is<LogFormat>()) {
    const auto& lf = f.as<LogFormat>();
    if (lf.hi - lf.lo + 1 > kMaxGrahamTable) throw QuantizeError(fmt::format("{}: too many indices for a table", f.name()));
    return build_log<T>(lf);
  }
  const auto& mf = f.as<MidriseFormat>();
  if (mf.hi - mf.lo + 1 > kMaxGrahamTable) throw QuantizeError(fmt::format("{}: too many indices for a table", f.name()));
  return build_midrise<T>(mf);
}

template GrahamTable<float> build_graham_table<float>(const Format&);
template GrahamTable<double> build_graham_table<double>(const Format&);

}  // namespace bitsim::formats::detail
