// Runtime number-format descriptors, parsed from and printed back to the spec strings of
// docs/spec/formats.md section 1 (e.g. "float(e=4,m=3,special=fn)", "fixed(i=7,f=0)", "graham_L4").
//
// A Format is a plain value: users choose formats in configs at run time. Parsing validates every key
// and range; errors throw FormatError whose message names the offending key. to_string() prints the
// canonical constructor form (required keys, then the non-default optional keys, in the spec's order),
// which parses back to an equal Format.
#pragma once

#include "io/error.hpp"
#include "formats/exact_number.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace bitsim::formats {

class FormatError : public bitsim::Error {
 public:
  using Error::Error;
};

// Which encodings of a float format are not finite numbers (formats.md section 1.2). fnuz and inuz
// have one zero and one NaN in the would-be -0 code; inuz adds +-Inf in the two all-ones magnitudes
// (IEEE P3109's signed "finite" and "extended" formats).
enum class Special { ieee, fn, fnuz, none, inuz };
// What a float result beyond the largest finite value becomes, and what an infinite input becomes.
// inf, saturate and satpropagate are IEEE P3109's OvfInf, SatFinite and SatPropagate: overflow gives
// +-Inf, or the largest finite value; an infinite input stays infinite under inf and satpropagate and
// saturates under saturate. nan gives the canonical NaN for both.
enum class FloatOverflow { inf, nan, saturate, satpropagate };
// The keys' values as the constructor form spells them ("fn", "saturate").
const char* special_name(Special s);
const char* overflow_name(FloatOverflow o);

// What a fixed-point code outside the code range becomes.
enum class FixedOverflow { saturate, wrap };

// One sign bit (none when unsigned), e exponent bits, m fraction bits; value of exponent field k >= 1 is
// 1.f * 2^(k-bias), of field 0 is 0.f * 2^(1-bias).
//
// An unsigned float (is_signed false: IEEE P3109's unsigned formats) has only the magnitudes, coded
// 0 ... 2^(e+m) - 1; it takes special=fnuz (its one NaN is the all-ones code), inuz (and +Inf the code
// below it) or none. A negative input becomes +0 (P3109 saturates it to the smallest value).
//
// An unsigned float may also have no zero (has_zero false, OCP MX's E8M0 scale type): every exponent
// field, 0 included, is normal, 1.f * 2^(k-bias), so code 0 is the smallest value 2^-bias and there are
// no subnormals. Zero, values below 2^-bias and negative inputs become that smallest value.
struct FloatFormat {
  int e = 0;
  int m = 0;
  std::int64_t bias = 0;
  bool subnormals = true;  // false when !has_zero (field 0 is normal: there are none)
  Special special = Special::ieee;
  FloatOverflow overflow = FloatOverflow::inf;
  bool is_signed = true;
  bool has_zero = true;  // false only for unsigned formats

  int width() const { return (is_signed ? 1 : 0) + e + m; }
  // Exponent of the smallest normal: 2^emin is the first magnitude with a full significand (field 1, or
  // field 0 in a format without zero).
  std::int64_t emin() const { return has_zero ? 1 - bias : -bias; }
  // The magnitudes lie on one grid indexed 0 (zero), 1 (smallest subnormal), ..., 2^m (2^emin), ...:
  // the magnitude of code c (without its sign bit) has grid index c + grid_offset(). A format without
  // zero starts at 2^emin.
  std::uint64_t grid_offset() const { return has_zero ? 0 : std::uint64_t{1} << m; }
  bool has_nan() const;
  bool has_inf() const { return special == Special::ieee || special == Special::inuz; }
  // fnuz and inuz give the would-be -0 code to their NaN: every zero is +0; an unsigned format has no -0.
  bool has_negative_zero() const { return is_signed && special != Special::fnuz && special != Special::inuz; }
  // What an infinite input becomes: infinite under overflow=inf and satpropagate (when the format has
  // infinities), else the overflow policy's value.
  bool keeps_infinite_inputs() const {
    return has_inf() && (overflow == FloatOverflow::inf || overflow == FloatOverflow::satpropagate);
  }
  // Magnitude index (= code without the sign bit) of the largest finite value; the magnitudes are in
  // code order (see grid_offset).
  std::uint64_t max_finite_index() const;
  // Magnitude index of +Inf (meaningful when has_inf()), and the code of every NaN result (the
  // canonical NaN, formats.md section 1.2; meaningful when has_nan()). Formats up to 64 bits.
  std::uint64_t inf_index() const;
  std::uint64_t nan_code() const;
  bool operator==(const FloatFormat&) const = default;
};

// value = code * 2^-f; signed codes are two's complement of width 1+i+f, unsigned codes of width i+f.
struct FixedFormat {
  int i = 0;
  int f = 0;
  bool is_signed = true;
  FixedOverflow overflow = FixedOverflow::saturate;

  int width() const { return (is_signed ? 1 : 0) + i + f; }
  bool operator==(const FixedFormat&) const = default;
};

// Graham 2017 logarithmic format: n = clamp(floor(k*log2(scale*|x|)), lo, hi),
// value = sign(x) * 2^(offset + n/k). scale and offset are exact decimal rationals.
struct LogFormat {
  std::int64_t k = 1;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  Rational scale = 1;
  Rational offset = 0;

  int width() const;  // 1 + ceil(log2(hi-lo+1))
  bool operator==(const LogFormat&) const = default;
};

// Graham 2017 uniform mid-rise format: value = (1/2 + clamp(floor(s*x), lo, hi)) / s.
struct MidriseFormat {
  Rational s = 1;
  std::int64_t lo = 0;
  std::int64_t hi = 1;

  int width() const;  // ceil(log2(hi-lo+1))
  bool operator==(const MidriseFormat&) const = default;
};

// Graham's O4: sign(x) * (a^(1/2 + clamp(floor(log_a(1+|x|)), 0, 7)) - 1), a = 129/100 exactly.
struct O4Format {
  static Rational base() { return Rational(129, 100); }
  int width() const { return 4; }
  bool operator==(const O4Format&) const = default;
};

using FormatVariant = std::variant<FloatFormat, FixedFormat, LogFormat, MidriseFormat, O4Format>;

// What a format family can do, declared once per family: code asks for the capability it needs,
// never for a family by name. A new family must specialize family_traits (the primary template has
// no definition), so a family without traits fails to compile.
struct FamilyTraits {
  const char* family;  // "float", "fixed", "log", "midrise", "O4"
  // Values are integers times powers of two on a grid of codes (IEEE-style): the family has the
  // arithmetic of hw/arith.hpp, can be a GEMM input, product or accumulator, and its values are
  // coded by value (sim/tensor/tensor.cpp).
  bool binary;
  // The family defines its own rounding (Graham 2017's floor-based cells): only rne is accepted,
  // meaning "the format's rounding"; no directed or stochastic modes.
  bool own_rounding;
};
template <class Family> struct family_traits;
template <> struct family_traits<FloatFormat> {
  static constexpr FamilyTraits value{"float", true, false};
};
template <> struct family_traits<FixedFormat> {
  static constexpr FamilyTraits value{"fixed", true, false};
};
template <> struct family_traits<LogFormat> {
  static constexpr FamilyTraits value{"log", false, true};
};
template <> struct family_traits<MidriseFormat> {
  static constexpr FamilyTraits value{"midrise", false, true};
};
template <> struct family_traits<O4Format> {
  static constexpr FamilyTraits value{"O4", false, true};
};

// Calls the visitor of the format's family: every family must be handled (an overload set missing
// one fails to compile), so no branch silently assumes one family for another.
template <class... Fs> struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs> overloaded(Fs...) -> overloaded<Fs...>;

class Format {
 public:
  Format() = default;
  explicit Format(FormatVariant v, std::string alias = {}) : v_(std::move(v)), alias_(std::move(alias)) {}

  const FormatVariant& variant() const { return v_; }
  template <class T> bool is() const { return std::holds_alternative<T>(v_); }
  template <class T> const T& as() const { return std::get<T>(v_); }

  int width() const;
  FamilyTraits traits() const {
    return std::visit([](const auto& f) { return family_traits<std::decay_t<decltype(f)>>::value; }, v_);
  }
  // Shorthands of traits(): see FamilyTraits.
  bool is_binary() const { return traits().binary; }
  // Whether bitsim's arithmetic (hw/arith.hpp, GEMM operands, products, accumulators) takes the format:
  // the binary families but unsigned floats, which are storage formats (a difference has no code).
  bool has_arithmetic() const;
  bool has_own_rounding() const { return traits().own_rounding; }
  // The alias it was parsed from ("fp8_e4m3"), or empty.
  const std::string& alias() const { return alias_; }
  // The alias if there is one, else the canonical constructor form.
  std::string name() const { return alias_.empty() ? to_string() : alias_; }
  // Canonical constructor form; for graham_O4 the alias itself (it has no constructor).
  std::string to_string() const;

  bool operator==(const Format& o) const { return v_ == o.v_; }

 private:
  FormatVariant v_;
  std::string alias_;
};

// Parses an alias or constructor string. Throws FormatError naming the key or token that is wrong.
Format parse_format(std::string_view spec);

struct AliasEntry {
  std::string alias;
  std::string meaning;  // constructor form (or a description for graham_O4)
};
// Every alias of formats.md, in the spec's order.
const std::vector<AliasEntry>& format_aliases();

}  // namespace bitsim::formats
