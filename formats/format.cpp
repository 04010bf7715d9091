#include "formats/format.hpp"
#include "io/excerpt.hpp"

#include "formats/spec_arguments.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

namespace bitsim::formats {

bool FloatFormat::has_nan() const {
  switch (special) {
    case Special::ieee: return m >= 1;
    case Special::fn:
    case Special::fnuz:
    case Special::inuz: return true;
    case Special::none: return false;
  }
  return false;
}

std::uint64_t FloatFormat::max_finite_index() const {
  const std::uint64_t frac_ones = (std::uint64_t{1} << m) - 1;
  const std::uint64_t top_field = (std::uint64_t{1} << e) - 1;
  if (!is_signed) {  // the all-ones code is the NaN (fnuz, inuz), the one below it +Inf (inuz)
    const std::uint64_t all_ones = (top_field << m) | frac_ones;
    return special == Special::inuz ? all_ones - 2 : special == Special::fnuz ? all_ones - 1 : all_ones;
  }
  switch (special) {
    case Special::ieee: return e == 1 ? frac_ones : ((top_field - 1) << m) | frac_ones;
    case Special::fn:
      if (m == 0) return top_field - 1;
      return (top_field << m) | (frac_ones - 1);
    case Special::fnuz:
    case Special::none: return (top_field << m) | frac_ones;
    case Special::inuz: return ((top_field << m) | frac_ones) - 1;
  }
  return 0;
}

std::uint64_t FloatFormat::inf_index() const {
  const std::uint64_t all_ones = (std::uint64_t{1} << (e + m)) - 1;
  if (!is_signed) return all_ones - 1;
  return special == Special::inuz ? all_ones : all_ones - ((std::uint64_t{1} << m) - 1);
}

std::uint64_t FloatFormat::nan_code() const {
  const std::uint64_t sign_code = std::uint64_t{1} << (e + m);
  if (!is_signed) return special == Special::none ? 0 : sign_code - 1;
  switch (special) {
    case Special::ieee:  // exponent all ones, only the top fraction bit set: quiet (none when m = 0)
      return m >= 1 ? ((((std::uint64_t{1} << e) - 1) << m) | (std::uint64_t{1} << (m - 1))) : 0;
    case Special::fn: return sign_code - 1;
    case Special::fnuz:
    case Special::inuz: return sign_code;
    case Special::none: return 0;
  }
  return 0;
}

namespace {

int ceil_log2_count(std::uint64_t count) {  // ceil(log2(count)) for count >= 1
  int bits = 0;
  while (bits < 64 && (std::uint64_t{1} << bits) < count) ++bits;
  return bits;
}

}  // namespace

int LogFormat::width() const { return 1 + ceil_log2_count(static_cast<std::uint64_t>(hi - lo) + 1); }
int MidriseFormat::width() const { return ceil_log2_count(static_cast<std::uint64_t>(hi - lo) + 1); }

bool Format::has_arithmetic() const { return is_binary() && !(is<FloatFormat>() && !as<FloatFormat>().is_signed); }

int Format::width() const {
  return std::visit([](const auto& f) { return f.width(); }, v_);
}

const char* special_name(Special s) {
  switch (s) {
    case Special::ieee: return "ieee";
    case Special::fn: return "fn";
    case Special::fnuz: return "fnuz";
    case Special::none: return "none";
    case Special::inuz: return "inuz";
  }
  return "?";
}

const char* overflow_name(FloatOverflow o) {
  switch (o) {
    case FloatOverflow::inf: return "inf";
    case FloatOverflow::nan: return "nan";
    case FloatOverflow::saturate: return "saturate";
    case FloatOverflow::satpropagate: return "satpropagate";
  }
  return "?";
}

namespace {

std::int64_t default_bias(int e, Special special) {
  std::int64_t half = std::int64_t{1} << (e - 1);
  return special == Special::fnuz || special == Special::inuz ? half : half - 1;
}

FloatOverflow default_overflow(Special special) {
  return special == Special::ieee || special == Special::inuz ? FloatOverflow::inf : FloatOverflow::saturate;
}

std::string to_string_float(const FloatFormat& f) {
  std::string s = fmt::format("float(e={},m={}", f.e, f.m);
  if (f.bias != default_bias(f.e, f.special)) s += fmt::format(",bias={}", f.bias);
  if (!f.subnormals && f.has_zero) s += ",subnormals=no";  // zero=no implies it
  if (f.special != Special::ieee) s += fmt::format(",special={}", special_name(f.special));
  if (f.overflow != default_overflow(f.special)) s += fmt::format(",overflow={}", overflow_name(f.overflow));
  if (!f.is_signed) s += ",signed=no";
  if (!f.has_zero) s += ",zero=no";
  return s + ")";
}

std::string to_string_fixed(const FixedFormat& f) {
  std::string s = fmt::format("fixed(i={},f={}", f.i, f.f);
  if (!f.is_signed) s += ",signed=no";
  if (f.overflow == FixedOverflow::wrap) s += ",overflow=wrap";
  return s + ")";
}

std::string to_string_log(const LogFormat& f) {
  std::string s = fmt::format("log(k={},lo={},hi={},scale={}", f.k, f.lo, f.hi, exact_decimal_to_string(f.scale));
  if (f.offset != 0) s += fmt::format(",offset={}", exact_decimal_to_string(f.offset));
  return s + ")";
}

std::string to_string_midrise(const MidriseFormat& f) {
  return fmt::format("midrise(s={},lo={},hi={})", exact_decimal_to_string(f.s), f.lo, f.hi);
}

// ---- parsing --------------------------------------------------------------------------------------

using Arguments = SpecArguments<FormatError>;

FloatFormat parse_float(Arguments& a) {
  FloatFormat f;
  std::string e_text = a.require("e"), m_text = a.require("m");
  std::int64_t e = a.integer("e", e_text), m = a.integer("m", m_text);
  if (e < 1 || e > 15) a.out_of_range("e", fmt::format("{} (must be 1..15)", e));
  if (m < 0 || m > 112) a.out_of_range("m", fmt::format("{} (must be 0..112)", m));
  f.e = static_cast<int>(e);
  f.m = static_cast<int>(m);
  if (auto s = a.take("special")) {
    if (*s == "ieee") f.special = Special::ieee;
    else if (*s == "fn") f.special = Special::fn;
    else if (*s == "fnuz") f.special = Special::fnuz;
    else if (*s == "none") f.special = Special::none;
    else if (*s == "inuz") f.special = Special::inuz;
    else throw FormatError(fmt::format("float: key 'special': expected ieee, fn, fnuz, inuz or none, got '{}'", io::excerpt(*s)));
  }
  f.bias = default_bias(f.e, f.special);
  if (auto b = a.take("bias")) {
    f.bias = a.integer("bias", *b);
    // Keep every exponent computation far inside int64.
    if (f.bias < -(std::int64_t{1} << 40) || f.bias > (std::int64_t{1} << 40))
      a.out_of_range("bias", fmt::format("{} (must be within +-2^40)", f.bias));
  }
  const std::optional<std::string> subnormals_text = a.take("subnormals");
  if (subnormals_text) f.subnormals = a.yes_no("subnormals", *subnormals_text);
  if (auto s = a.take("signed")) f.is_signed = a.yes_no("signed", *s);
  if (!f.is_signed && f.special != Special::fnuz && f.special != Special::inuz && f.special != Special::none)
    throw FormatError(fmt::format("float: key 'signed': an unsigned float takes special=fnuz (NaN in the all-ones code), "
                                  "inuz (and +Inf below it) or none, not special={}",
                                  special_name(f.special)));
  f.overflow = default_overflow(f.special);
  if (auto o = a.take("overflow")) {
    if (*o == "inf") f.overflow = FloatOverflow::inf;
    else if (*o == "nan") f.overflow = FloatOverflow::nan;
    else if (*o == "saturate") f.overflow = FloatOverflow::saturate;
    else if (*o == "satpropagate") f.overflow = FloatOverflow::satpropagate;
    else
      throw FormatError(
          fmt::format("float: key 'overflow': expected inf, nan, saturate or satpropagate, got '{}'", io::excerpt(*o)));
    if ((f.overflow == FloatOverflow::inf || f.overflow == FloatOverflow::satpropagate) && !f.has_inf())
      throw FormatError(fmt::format("float: key 'overflow': overflow={} needs special=ieee or inuz (special={} has no infinity{})",
                                    overflow_name(f.overflow), special_name(f.special),
                                    f.overflow == FloatOverflow::satpropagate ? "; without one, use overflow=saturate" : ""));
    if (f.overflow == FloatOverflow::nan && !f.has_nan())
      throw FormatError(fmt::format("float: key 'overflow': overflow=nan needs a format with a NaN encoding "
                                    "(special={}, m={} has none)",
                                    special_name(f.special), f.m));
  }
  if (auto z = a.take("zero")) {
    f.has_zero = a.yes_no("zero", *z);
    if (!f.has_zero && f.is_signed)
      throw FormatError("float: key 'zero': zero=no needs signed=no (a format without zero is an unsigned float, as OCP MX's E8M0)");
    if (!f.has_zero && subnormals_text && f.subnormals)
      throw FormatError("float: key 'subnormals': a format with zero=no has no subnormals (its exponent field 0 is normal)");
    if (!f.has_zero) f.subnormals = false;
  }
  a.finish();
  if (!f.is_signed && f.e + f.m <= 63) {  // wider: certainly holds one
    // Some code besides the specials (and zero) is finite, and not flushed.
    const std::uint64_t codes = std::uint64_t{1} << (f.e + f.m);
    const std::uint64_t specials = f.special == Special::inuz ? 2 : f.special == Special::fnuz ? 1 : 0;
    const std::uint64_t zeros = f.has_zero ? 1 : 0;
    if (codes <= specials + zeros || (f.has_zero && !f.subnormals && (f.max_finite_index() >> f.m) == 0))
      throw FormatError(fmt::format("{}: holds no finite non-zero value (its codes are {}); use more exponent or "
                                    "fraction bits",
                                    to_string_float(f),
                                    codes <= specials           ? "NaN and Inf"
                                    : codes <= specials + zeros ? "zero, NaN and Inf"
                                                                : "zero, NaN, Inf and flushed subnormals"));
    return f;
  }
  // Every format holds a finite non-zero value: with one exponent bit, an IEEE format without fraction
  // bits (or without subnormals) has only zeros, infinities and NaNs, and every fact of `formats
  // describe` (smallest normal, largest finite, epsilon) would be meaningless.
  const std::int64_t exponent_fields = (std::int64_t{1} << f.e) - 1;  // non-zero exponent fields
  const bool top_field_finite = f.special == Special::fnuz || f.special == Special::none ||
                                ((f.special == Special::fn || f.special == Special::inuz) && f.m > 0);
  const std::int64_t normal_fields = exponent_fields - (top_field_finite ? 0 : 1);
  if (normal_fields == 0 && (f.m == 0 || !f.subnormals))
    throw FormatError(fmt::format("{}: holds no finite non-zero value (its only exponent field besides 0 is "
                                  "taken by {}, and {}); use more exponent or fraction bits, or special=fnuz or none",
                                  to_string_float(f),
                                  f.special == Special::fn ? "NaN" : f.special == Special::inuz ? "Inf" : "Inf and NaN",
                                  f.m == 0 ? "there are no fraction bits for subnormals" : "subnormals=no flushes the rest"));
  return f;
}

FixedFormat parse_fixed(Arguments& a) {
  FixedFormat f;
  std::string i_text = a.require("i"), f_text = a.require("f");
  std::int64_t i = a.integer("i", i_text), fr = a.integer("f", f_text);
  if (auto s = a.take("signed")) f.is_signed = a.yes_no("signed", *s);
  if (auto o = a.take("overflow")) {
    if (*o == "saturate") f.overflow = FixedOverflow::saturate;
    else if (*o == "wrap") f.overflow = FixedOverflow::wrap;
    else throw FormatError(fmt::format("fixed: key 'overflow': expected saturate or wrap, got '{}'", io::excerpt(*o)));
  }
  a.finish();
  if (i < -100000 || i > 100000) a.out_of_range("i", fmt::format("{}", i));
  if (fr < -100000 || fr > 100000) a.out_of_range("f", fmt::format("{}", fr));
  std::int64_t width = (f.is_signed ? 1 : 0) + i + fr;
  if (width < 1 || width > 64)
    a.out_of_range(i < 0 || i > 64 ? "i" : "f", fmt::format("width {}+i+f = {} (must be 1..64)", f.is_signed ? 1 : 0, width));
  f.i = static_cast<int>(i);
  f.f = static_cast<int>(fr);
  return f;
}

constexpr std::int64_t kGrahamIndexLimit = std::int64_t{1} << 40;
constexpr std::int64_t kMaxLogRootOrder = 64;
constexpr std::int64_t kMaxLogExponent = 16384;

LogFormat parse_log(Arguments& a) {
  LogFormat f;
  std::string k_text = a.require("k"), lo_text = a.require("lo"), hi_text = a.require("hi"),
              scale_text = a.require("scale");
  f.k = a.integer("k", k_text);
  f.lo = a.integer("lo", lo_text);
  f.hi = a.integer("hi", hi_text);
  f.scale = a.decimal("scale", scale_text);
  if (auto o = a.take("offset")) f.offset = a.decimal("offset", *o);
  a.finish();
  // The values 2^(offset + n/k) are decided by exact roots of order k * denominator(offset); their cost
  // grows fast with the order (the fuzzer found a k = 417 format that took seconds to compile and an
  // offset of 0.1234567 that did not finish), so the order is bounded, far above Graham's (at most 2).
  if (f.k < 1 || f.k > kMaxLogRootOrder) a.out_of_range("k", fmt::format("{} (must be 1..{})", f.k, kMaxLogRootOrder));
  if (const BigInt order = denominator(f.offset) * f.k; order > kMaxLogRootOrder)
    a.out_of_range("offset", fmt::format("offset + n/k has denominator {} (k = {}); at most {} is supported",
                                         order.str(), f.k, kMaxLogRootOrder));
  if (f.scale <= 0) a.out_of_range("scale", "must be > 0");
  if (f.lo < -kGrahamIndexLimit || f.lo > kGrahamIndexLimit) a.out_of_range("lo", "must be within +-2^40");
  if (f.hi < -kGrahamIndexLimit || f.hi > kGrahamIndexLimit) a.out_of_range("hi", "must be within +-2^40");
  if (f.lo > f.hi) a.out_of_range("hi", fmt::format("hi={} is below lo={}", f.hi, f.lo));
  // Values are 2^(offset + n/k), computed exactly: exponents are bounded (2^16384 is beyond every
  // format the engine can hold; the fuzzer found offset = 4.4e28 making 2^offset never finish).
  const Rational limit(kMaxLogExponent);
  if (f.offset > limit || f.offset < -limit)
    a.out_of_range("offset", fmt::format("must be within +-{} (values are 2^(offset + n/k))", kMaxLogExponent));
  if (f.offset + Rational(f.hi, f.k) > limit)
    a.out_of_range("hi", fmt::format("offset + hi/k must be at most {} (values are 2^(offset + n/k))", kMaxLogExponent));
  if (f.offset + Rational(f.lo, f.k) < -limit)
    a.out_of_range("lo", fmt::format("offset + lo/k must be at least -{} (values are 2^(offset + n/k))", kMaxLogExponent));
  return f;
}

MidriseFormat parse_midrise(Arguments& a) {
  MidriseFormat f;
  std::string s_text = a.require("s"), lo_text = a.require("lo"), hi_text = a.require("hi");
  f.s = a.decimal("s", s_text);
  f.lo = a.integer("lo", lo_text);
  f.hi = a.integer("hi", hi_text);
  a.finish();
  if (f.s <= 0) a.out_of_range("s", "must be > 0");
  if (f.lo < -kGrahamIndexLimit || f.lo > kGrahamIndexLimit) a.out_of_range("lo", "must be within +-2^40");
  if (f.hi < -kGrahamIndexLimit || f.hi > kGrahamIndexLimit) a.out_of_range("hi", "must be within +-2^40");
  if (f.hi <= f.lo) a.out_of_range("hi", fmt::format("hi={} must be above lo={}", f.hi, f.lo));
  return f;
}


Format parse_constructor(const std::string& spec) {
  auto open = spec.find('(');
  if (open == std::string::npos || spec.back() != ')')
    throw FormatError(fmt::format("unknown format '{}' (not an alias; constructors look like float(e=4,m=3))", io::excerpt(spec)));
  std::string name = spec.substr(0, open);
  std::string body = spec.substr(open + 1, spec.size() - open - 2);
  if (name != "float" && name != "fixed" && name != "log" && name != "midrise")
    throw FormatError(fmt::format("unknown format constructor '{}' (expected float, fixed, log or midrise)", io::excerpt(name)));
  Arguments args(name, split_spec_arguments<FormatError>(name, body));
  if (name == "float") return Format(parse_float(args));
  if (name == "fixed") return Format(parse_fixed(args));
  if (name == "log") return Format(parse_log(args));
  return Format(parse_midrise(args));
}

}  // namespace

namespace {

// IEEE P3109's names binaryKpP followed by s or u (signed, unsigned) and e or f (extended, with
// infinities, or finite): K bits, precision P (P - 1 fraction bits), one zero 0...0, subnormals.
// A signed format has K - P exponent bits with bias 2^(K-P-1), its NaN in 1 0...0 and, extended, +-Inf
// in the two all-ones magnitudes: special=inuz, or fnuz when finite. An unsigned format has K - P + 1
// exponent bits with bias 2^(K-P), its NaN in 1...1 and, extended, +Inf in 1...10: the same specials
// with signed=no. (Both biases are 2^(E-1), the default of fnuz and inuz.) Returns the constructor,
// nullopt when the text is not of this shape, or throws for the shape with parameters bitsim cannot take.
std::optional<std::string> p3109_constructor(const std::string& spec) {
  if (spec.rfind("binary", 0) != 0) return std::nullopt;
  std::size_t i = 6;
  auto number = [&](std::int64_t& out) {
    const std::size_t start = i;
    while (i < spec.size() && i - start < 4 && spec[i] >= '0' && spec[i] <= '9') ++i;
    if (i == start || (spec[start] == '0' && i - start > 1)) return false;
    out = std::stoll(spec.substr(start, i - start));
    return true;
  };
  std::int64_t k = 0, p = 0;
  if (!number(k) || i >= spec.size() || spec[i] != 'p') return std::nullopt;
  ++i;
  if (!number(p)) return std::nullopt;
  const std::string suffix = spec.substr(i);
  if (suffix.empty())
    throw FormatError(fmt::format("format '{}': say which IEEE P3109 format: {}se or {}sf (signed, with infinities or "
                                  "finite), {}ue or {}uf (unsigned)",
                                  spec, spec, spec, spec, spec));
  if (suffix != "se" && suffix != "sf" && suffix != "ue" && suffix != "uf") return std::nullopt;
  const bool is_signed = suffix[0] == 's';
  const std::int64_t exponent_bits = is_signed ? k - p : k - p + 1;
  if (p < 1 || exponent_bits < 1)
    throw FormatError(fmt::format("format '{}': a{} P3109 format needs 1 <= P <= K{} (K={}, P={})", spec,
                                  is_signed ? " signed" : "n unsigned", is_signed ? "-1" : "", k, p));
  if (exponent_bits > 15)
    throw FormatError(fmt::format("format '{}': {} exponent bits; bitsim's floats take at most 15", spec, exponent_bits));
  if (k > 128) throw FormatError(fmt::format("format '{}': K={} bits; bitsim's floats take at most 128", spec, k));
  return fmt::format("float(e={},m={},special={}{})", exponent_bits, p - 1, suffix[1] == 'e' ? "inuz" : "fnuz",
                     is_signed ? "" : ",signed=no");
}

}  // namespace

const std::vector<AliasEntry>& format_aliases() {
  static const std::vector<AliasEntry> table = [] {
    std::vector<AliasEntry> t = {
      {"fp64", "float(e=11,m=52)"},
      {"fp32", "float(e=8,m=23)"},
      {"fp16", "float(e=5,m=10)"},
      {"bf16", "float(e=8,m=7)"},
      {"tf32", "float(e=8,m=10)"},
      {"fp8_e5m2", "float(e=5,m=2)"},
      {"fp8_e4m3", "float(e=4,m=3,special=fn)"},
      {"fp8_e4m3fnuz", "float(e=4,m=3,special=fnuz)"},
      {"fp8_e5m2fnuz", "float(e=5,m=2,special=fnuz)"},
      {"fp6_e3m2", "float(e=3,m=2,special=none)"},
      {"fp6_e2m3", "float(e=2,m=3,special=none)"},
      {"fp4_e2m1", "float(e=2,m=1,special=none)"},
      {"int8", "fixed(i=7,f=0)"},
      {"int16", "fixed(i=15,f=0)"},
      {"int32", "fixed(i=31,f=0)"},
      {"uint8", "fixed(i=8,f=0,signed=no)"},
      {"e8m0", "float(e=8,m=0,bias=127,special=fnuz,signed=no,zero=no)"},
      {"graham_L2", "log(k=1,lo=-1,hi=0,scale=1.034,offset=0.5)"},
      {"graham_L3", "log(k=1,lo=-1,hi=2,scale=1.316)"},
      {"graham_L4", "log(k=1,lo=-3,hi=4,scale=1.36)"},
      {"graham_L5", "log(k=2,lo=-6,hi=9,scale=1.177)"},
      {"graham_U4", "midrise(s=2,lo=-8,hi=7)"},
      {"graham_U5", "midrise(s=3,lo=-16,hi=15)"},
      {"graham_U8", "midrise(s=8,lo=-128,hi=127)"},
      {"graham_O4", "sign(x) * (a^(1/2 + clamp(floor(log_a(1+|x|)), 0, 7)) - 1), a = 1.29"},
    };
    // The 8-bit P3109 formats by name (other widths parse by the same rule, p3109_constructor).
    for (const char* domain : {"se", "sf", "ue", "uf"})
      for (int p = 1; p <= (domain[0] == 's' ? 7 : 8); ++p) {
        const std::string name = fmt::format("binary8p{}{}", p, domain);
        t.push_back({name, *p3109_constructor(name)});
      }
    return t;
  }();
  return table;
}

std::string Format::to_string() const {
  return std::visit(
      [](const auto& f) -> std::string {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, FloatFormat>) return to_string_float(f);
        else if constexpr (std::is_same_v<T, FixedFormat>) return to_string_fixed(f);
        else if constexpr (std::is_same_v<T, LogFormat>) return to_string_log(f);
        else if constexpr (std::is_same_v<T, MidriseFormat>) return to_string_midrise(f);
        else return "graham_O4";
      },
      v_);
}

Format parse_format(std::string_view text) {
  std::string spec = strip_spaces(text);
  if (spec.empty()) throw FormatError("empty format name");
  if (spec == "graham_O4") return Format(O4Format{}, "graham_O4");
  for (const auto& a : format_aliases())
    if (a.alias == spec) {
      Format f = parse_constructor(a.meaning);
      return Format(f.variant(), a.alias);
    }
  if (auto p3109 = p3109_constructor(spec)) {
    try {
      return Format(parse_constructor(*p3109).variant(), spec);
    } catch (const FormatError& e) {
      throw FormatError(fmt::format("format '{}': {}", spec, e.what()));  // e names the constructor
    }
  }
  return parse_constructor(spec);
}

}  // namespace bitsim::formats
