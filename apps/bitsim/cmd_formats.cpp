// `bitsim formats list | describe SPEC`: formats.md section 4.
#include "apps/bitsim/commands.hpp"
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <string>

namespace bitsim::cli {

namespace {

using namespace bitsim::formats;

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
  }
  return "?";
}

void describe_float(const FloatFormat& f, const Format& format) {
  FormatFacts facts = golden_facts(format);
  fmt::print("kind                float\n");
  fmt::print("width               {} bits (1 sign, {} exponent, {} fraction)\n", f.width(), f.e, f.m);
  fmt::print("bias                {}\n", f.bias);
  fmt::print("subnormals          {}\n", f.subnormals ? "yes" : "no (results flushed to zero after rounding)");
  fmt::print("special             {}\n", special_text(f.special));
  fmt::print("overflow            {}\n", f.overflow == FloatOverflow::inf ? "inf" : f.overflow == FloatOverflow::nan ? "nan" : "saturate");
  if (facts.smallest_subnormal) fmt::print("smallest subnormal  {}\n", show(*facts.smallest_subnormal));
  else fmt::print("smallest subnormal  none\n");
  const char* no_normals = "none (no normal numbers: the only non-zero exponent field is Inf and NaN)";
  fmt::print("smallest normal     {}\n", facts.smallest_normal ? show(*facts.smallest_normal) : no_normals);
  fmt::print("largest finite      {}\n", show(facts.largest_finite));
  fmt::print("machine epsilon     {}\n", facts.epsilon ? show(*facts.epsilon) : no_normals);
  const int w = f.width();
  const BigInt sign = BigInt(1) << (w - 1);
  if (f.special == Special::ieee) {
    const BigInt inf = ((BigInt(1) << f.e) - 1) << f.m;
    fmt::print("+Inf / -Inf         {} / {}\n", format_code(inf, w), format_code(inf | sign, w));
  } else {
    fmt::print("+Inf / -Inf         none\n");
  }
  switch (f.special) {
    case Special::ieee:
      if (f.m == 0) fmt::print("NaN                 none\n");
      else
        fmt::print("NaN                 exponent all ones, fraction != 0 (canonical {})\n",
                   format_code((((BigInt(1) << f.e) - 1) << f.m) | (BigInt(1) << (f.m - 1)), w));
      break;
    case Special::fn: {
      const BigInt nan = (BigInt(1) << (f.e + f.m)) - 1;
      fmt::print("NaN                 {} and {} (canonical {})\n", format_code(nan, w), format_code(nan | sign, w), format_code(nan, w));
      break;
    }
    case Special::fnuz: fmt::print("NaN                 {} (the only one)\n", format_code(sign, w)); break;
    case Special::none: fmt::print("NaN                 none\n"); break;
  }
}

void describe_fixed(const FixedFormat& f, const Format& format) {
  FormatFacts facts = golden_facts(format);
  fmt::print("kind                fixed point ({})\n", f.is_signed ? "signed, two's complement" : "unsigned");
  fmt::print("width               {} bit{} ({}{} integer, {} fraction)\n", f.width(), f.width() == 1 ? "" : "s",
             f.is_signed ? "1 sign, " : "", f.i, f.f);
  fmt::print("value               code * 2^{}\n", -f.f);
  fmt::print("overflow            {}\n", f.overflow == FixedOverflow::wrap ? "wrap (keep the low width bits)" : "saturate");
  fmt::print("quantum (epsilon)   {}\n", show(*facts.epsilon));
  fmt::print("most negative       {}\n", show(*facts.most_negative));
  fmt::print("largest             {}\n", show(facts.largest_finite));
  fmt::print("+Inf / -Inf / NaN   none (Inf saturates; NaN is an error)\n");
}

void describe_graham(const Format& format) {
  fmt::print("kind                Graham 2017 ");
  if (format.is<LogFormat>()) {
    const auto& f = format.as<LogFormat>();
    fmt::print("logarithmic: n = clamp(floor({}*log2({}*|x|)), {}, {}), value = sign(x) * 2^({} + n/{})\n", f.k,
               exact_decimal_to_string(f.scale), f.lo, f.hi, exact_decimal_to_string(f.offset), f.k);
    fmt::print("code                sign bit (1 = negative) above the index n-({}); +-0 has no code\n", f.lo);
  } else if (format.is<MidriseFormat>()) {
    const auto& f = format.as<MidriseFormat>();
    fmt::print("uniform mid-rise: value = (1/2 + clamp(floor({}*x), {}, {})) / {}\n", exact_decimal_to_string(f.s), f.lo,
               f.hi, exact_decimal_to_string(f.s));
    fmt::print("code                the index clamp(...)-({}); no zero: +-0 gives the value 1/(2s)\n", f.lo);
  } else {
    fmt::print("O4: value = sign(x) * (a^(1/2 + clamp(floor(log_a(1+|x|)), 0, 7)) - 1), a = 1.29\n");
    fmt::print("code                sign bit (1 = negative) above the 3-bit index; +-0 has no code\n");
  }
  fmt::print("width               {} bits\n", format.width());
  fmt::print("rounding            defined by the formula (only rne accepted)\n");
  fmt::print("+Inf / -Inf / NaN   none (Inf clamps; NaN is an error)\n");
}

int run_describe(const std::string& spec) {
  Format format;
  try {
    format = parse_format(spec);
  } catch (const FormatError& e) {
    std::cerr << "bitsim formats describe: " << e.what() << "\n";
    return kExitBadInput;
  }
  fmt::print("format              {}\n", format.alias().empty() ? format.to_string()
                                                             : fmt::format("{} = {}", format.alias(), format.to_string()));
  if (format.is<FloatFormat>()) describe_float(format.as<FloatFormat>(), format);
  else if (format.is<FixedFormat>()) describe_fixed(format.as<FixedFormat>(), format);
  else describe_graham(format);
  const int w = format.width();
  if (w <= 8) {
    fmt::print("\ncode  value (hex float of the nearest double, decimal)\n");
    for (unsigned c = 0; c < (1u << w); ++c) {
      try {
        GoldenResult g = golden_decode(format, BigInt(c));
        fmt::print("{}  {}\n", format_code(std::uint64_t{c}, w), show_value(g));
      } catch (const QuantizeError&) {
        fmt::print("{}  (unused)\n", format_code(std::uint64_t{c}, w));
      }
    }
  }
  return 0;
}

int run_list() {
  for (const auto& a : format_aliases()) fmt::print("{:<14}{}\n", a.alias, a.meaning);
  return 0;
}

}  // namespace

Runner add_formats_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("formats", "List the format aliases or describe one format");
  cmd->require_subcommand(1);
  CLI::App* list = cmd->add_subcommand("list", "Print every alias with its constructor form");
  CLI::App* describe = cmd->add_subcommand("describe", "Print the facts and, up to 8 bits, every code of a format");
  auto spec = std::make_shared<std::string>();
  describe->add_option("SPEC", *spec, "format name or constructor, e.g. fp8_e4m3")->required();
  const char* exit_status = "Exit status: 0 success; 2 an invalid format name or option (the message names the key).\n";
  cmd->footer(std::string("Format names and their rules: docs/spec/formats.md.\n") + exit_status +
              "Examples: bitsim formats list\n"
              "          bitsim formats describe 'float(e=5,m=2,overflow=saturate)'");
  list->footer(std::string(exit_status) + "Example: bitsim formats list");
  describe->footer(std::string("Width, bias, subnormals, specials, overflow, smallest subnormal and normal, largest finite,\n"
                               "epsilon, the Inf and NaN codes, and for formats up to 8 bits every code with its value.\n") +
                   exit_status + "Examples: bitsim formats describe fp8_e4m3\n          bitsim formats describe graham_L4");
  return [list, describe, spec] {
    if (list->parsed()) return run_list();
    if (describe->parsed()) return run_describe(*spec);
    return kExitBadInput;
  };
}

}  // namespace bitsim::cli
