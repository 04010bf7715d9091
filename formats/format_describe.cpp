// The text of `bitsim formats describe` (formats.md section 4), shared by the CLI and the Python package.
#include "formats/format_describe.hpp"

#include "formats/format_text.hpp"
#include "formats/golden.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <string>

namespace bitsim::formats {

namespace {

// "0x1.cp+8 (448)": the exact value as hex float of its nearest double and a short decimal.
std::string show(const Rational& v) {
  const double d = nearest_double(v < 0 ? Rational(-v) : v) * (v < 0 ? -1.0 : 1.0);
  const bool exact = !std::isinf(d) && rational_from_double(d) == v;
  return fmt::format("{} ({:.9g}{})", format_hex_value(d), d, exact ? "" : ", rounded to double");
}

std::string show_value(const GoldenResult& g) {
  if (g.kind == ValueKind::nan) return "nan";
  if (g.kind == ValueKind::infinite) return g.negative ? "-inf" : "inf";
  return fmt::format("{:<26} {:.9g}", format_hex_value(g.value), g.value);
}

const char* special_text(Special s) {
  switch (s) {
    case Special::ieee: return "ieee (exponent all ones: Inf if fraction 0, else NaN)";
    case Special::fn: return "fn (no Inf; only exponent and fraction all ones is NaN)";
    case Special::fnuz: return "fnuz (no Inf, no -0; 1 followed by zeros is the only NaN)";
    case Special::none: return "none (every encoding is a finite number)";
    case Special::inuz: return "inuz (no -0; 1 followed by zeros is the only NaN; all ones but the sign is Inf)";
  }
  return "?";
}

const char* unsigned_special_text(Special s) {
  switch (s) {
    case Special::fnuz: return "fnuz (no Inf; all ones is the only NaN)";
    case Special::inuz: return "inuz (all ones is the only NaN, the code below it +Inf)";
    case Special::none: return "none (every encoding is a finite number)";
    case Special::ieee:
    case Special::fn: break;  // refused for unsigned formats by the parser
  }
  return "?";
}

void describe_float(std::string& out, const FloatFormat& f, const Format& format) {
  FormatFacts facts = golden_facts(format);
  fmt::format_to(std::back_inserter(out), "kind                float{}\n",
                 f.is_signed   ? ""
                 : f.has_zero ? " (unsigned: negative inputs give +0)"
                              : " (unsigned, no zero: zero, negative inputs and values below the smallest give code 0)");
  fmt::format_to(std::back_inserter(out), "width               {} bits ({}{} exponent, {} fraction)\n", f.width(), f.is_signed ? "1 sign, " : "",
                 f.e, f.m);
  fmt::format_to(std::back_inserter(out), "bias                {}\n", f.bias);
  fmt::format_to(std::back_inserter(out), "subnormals          {}\n",
                 f.subnormals ? "yes"
                 : f.has_zero ? "no (results flushed to zero after rounding)"
                              : "no (exponent field 0 is normal: code 0 is the smallest normal)");
  fmt::format_to(std::back_inserter(out), "special             {}\n", f.is_signed ? special_text(f.special) : unsigned_special_text(f.special));
  fmt::format_to(std::back_inserter(out), "overflow            {}\n", overflow_name(f.overflow));
  if (facts.smallest_subnormal) fmt::format_to(std::back_inserter(out), "smallest subnormal  {}\n", show(*facts.smallest_subnormal));
  else fmt::format_to(std::back_inserter(out), "smallest subnormal  none\n");
  const char* no_normals = "none (no normal numbers: the only non-zero exponent field is Inf and NaN)";
  fmt::format_to(std::back_inserter(out), "smallest normal     {}\n", facts.smallest_normal ? show(*facts.smallest_normal) : no_normals);
  fmt::format_to(std::back_inserter(out), "largest finite      {}\n", show(facts.largest_finite));
  fmt::format_to(std::back_inserter(out), "machine epsilon     {}\n", facts.epsilon ? show(*facts.epsilon) : no_normals);
  const int w = f.width();
  // The codes of +Inf and of the canonical NaN are the golden path's (golden_facts).
  if (!f.is_signed) {
    if (facts.inf_code) fmt::format_to(std::back_inserter(out), "+Inf                {}\n", format_code(*facts.inf_code, w));
    else fmt::format_to(std::back_inserter(out), "+Inf                none\n");
    if (facts.nan_code) fmt::format_to(std::back_inserter(out), "NaN                 {} (the only one)\n", format_code(*facts.nan_code, w));
    else fmt::format_to(std::back_inserter(out), "NaN                 none\n");
    return;
  }
  const BigInt sign = BigInt(1) << (w - 1);
  if (facts.inf_code)
    fmt::format_to(std::back_inserter(out), "+Inf / -Inf         {} / {}\n", format_code(*facts.inf_code, w), format_code(*facts.inf_code | sign, w));
  else
    fmt::format_to(std::back_inserter(out), "+Inf / -Inf         none\n");
  if (!facts.nan_code) {
    fmt::format_to(std::back_inserter(out), "NaN                 none\n");
    return;
  }
  const std::string nan = format_code(*facts.nan_code, w);
  switch (f.special) {
    case Special::ieee: fmt::format_to(std::back_inserter(out), "NaN                 exponent all ones, fraction != 0 (canonical {})\n", nan); break;
    case Special::fn:  // the canonical NaN and its negative
      fmt::format_to(std::back_inserter(out), "NaN                 {} and {} (canonical {})\n", nan, format_code(*facts.nan_code | sign, w), nan);
      break;
    case Special::fnuz:
    case Special::inuz:
    case Special::none: fmt::format_to(std::back_inserter(out), "NaN                 {} (the only one)\n", nan); break;
  }
}

void describe_fixed(std::string& out, const FixedFormat& f, const Format& format) {
  FormatFacts facts = golden_facts(format);
  fmt::format_to(std::back_inserter(out), "kind                fixed point ({})\n", f.is_signed ? "signed, two's complement" : "unsigned");
  fmt::format_to(std::back_inserter(out), "width               {} bit{} ({}{} integer, {} fraction)\n", f.width(), f.width() == 1 ? "" : "s",
             f.is_signed ? "1 sign, " : "", f.i, f.f);
  fmt::format_to(std::back_inserter(out), "value               code * 2^{}\n", -f.f);
  fmt::format_to(std::back_inserter(out), "overflow            {}\n", f.overflow == FixedOverflow::wrap ? "wrap (keep the low width bits)" : "saturate");
  fmt::format_to(std::back_inserter(out), "quantum (epsilon)   {}\n", show(*facts.epsilon));
  fmt::format_to(std::back_inserter(out), "most negative       {}\n", show(*facts.most_negative));
  fmt::format_to(std::back_inserter(out), "largest             {}\n", show(facts.largest_finite));
  fmt::format_to(std::back_inserter(out), "+Inf / -Inf / NaN   none (Inf saturates; NaN is an error)\n");
}

void describe_graham(std::string& out, const Format& format) {
  fmt::format_to(std::back_inserter(out), "kind                Graham 2017 ");
  if (format.is<LogFormat>()) {
    const auto& f = format.as<LogFormat>();
    fmt::format_to(std::back_inserter(out), "logarithmic: n = clamp(floor({}*log2({}*|x|)), {}, {}), value = sign(x) * 2^({} + n/{})\n", f.k,
               exact_decimal_to_string(f.scale), f.lo, f.hi, exact_decimal_to_string(f.offset), f.k);
    fmt::format_to(std::back_inserter(out), "code                sign bit (1 = negative) above the index n-({}); +-0 has no code\n", f.lo);
  } else if (format.is<MidriseFormat>()) {
    const auto& f = format.as<MidriseFormat>();
    fmt::format_to(std::back_inserter(out), "uniform mid-rise: value = (1/2 + clamp(floor({}*x), {}, {})) / {}\n", exact_decimal_to_string(f.s), f.lo,
               f.hi, exact_decimal_to_string(f.s));
    fmt::format_to(std::back_inserter(out), "code                the index clamp(...)-({}); no zero: +-0 gives the value 1/(2s)\n", f.lo);
  } else {
    fmt::format_to(std::back_inserter(out), "O4: value = sign(x) * (a^(1/2 + clamp(floor(log_a(1+|x|)), 0, 7)) - 1), a = 1.29\n");
    fmt::format_to(std::back_inserter(out), "code                sign bit (1 = negative) above the 3-bit index; +-0 has no code\n");
  }
  fmt::format_to(std::back_inserter(out), "width               {} bits\n", format.width());
  fmt::format_to(std::back_inserter(out), "rounding            defined by the formula (only rne accepted)\n");
  fmt::format_to(std::back_inserter(out), "+Inf / -Inf / NaN   none (Inf clamps; NaN is an error)\n");
}

}  // namespace

std::string describe_format(const Format& format) {
  std::string out;
  fmt::format_to(std::back_inserter(out), "format              {}\n", format.alias().empty() ? format.to_string()
                                                             : fmt::format("{} = {}", format.alias(), format.to_string()));
  if (format.is<FloatFormat>()) describe_float(out, format.as<FloatFormat>(), format);
  else if (format.is<FixedFormat>()) describe_fixed(out, format.as<FixedFormat>(), format);
  else describe_graham(out, format);
  const int w = format.width();
  if (w <= 8) {
    fmt::format_to(std::back_inserter(out), "\ncode  value (hex float of the nearest double, decimal)\n");
    for (unsigned c = 0; c < (1u << w); ++c) {
      try {
        GoldenResult g = golden_decode(format, BigInt(c));
        fmt::format_to(std::back_inserter(out), "{}  {}\n", format_code(std::uint64_t{c}, w), show_value(g));
      } catch (const QuantizeError&) {
        fmt::format_to(std::back_inserter(out), "{}  (unused)\n", format_code(std::uint64_t{c}, w));
      }
    }
  }
  return out;
}

}  // namespace bitsim::formats
