// Fuzz target: the number reader of `bitsim quantize` (formats::parse_number) and the quantization of
// what it reads, fast path against golden path.
//
// Input layout: byte 0 picks a format from kFormats (or, when >= 0x80, the text up to the first
// newline is a format spec itself); byte 1 the rounding mode and R; bytes 2..5 the random word of sr;
// the rest is the number text (one line of `bitsim quantize` input).
// Properties: parse_number accepts exactly what strtod reads completely (of the forms it documents)
// and gives the same double; Quantizer::quantize and golden_quantize give the same code, value and
// flags, or both refuse the value with QuantizeError.
#include "fuzz_input.hpp"

#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <array>
#include <cmath>
#include <cstring>

using namespace bitsim::formats;

namespace {

// Every family and policy: IEEE-like, saturating and NaN-only floats, fixed point signed, unsigned and
// wrapping, and Graham's formats.
constexpr std::array kFormats = {
    "fp32", "fp16", "bf16", "fp8_e5m2", "fp8_e4m3", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e3m2", "fp6_e2m3",
    "fp4_e2m1", "int8", "uint8", "int16", "graham_L2", "graham_L5", "graham_U4", "graham_U8", "graham_O4",
    "float(e=4,m=3,bias=3)", "float(e=5,m=2,subnormals=no)", "float(e=5,m=10,overflow=saturate)",
    "float(e=3,m=4,special=fn,overflow=saturate)", "fixed(i=3,f=4)", "fixed(i=3,f=4,overflow=wrap)",
    "fixed(i=2,f=13,signed=no)", "fixed(i=0,f=20)", "fixed(i=40,f=12)", "fp64"};

bool same_value(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

std::string trim(std::string_view t) {
  const auto b = t.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string_view::npos) return {};
  const auto e = t.find_last_not_of(" \t\r\n\v\f");
  return std::string(t.substr(b, e - b + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 6 || size > 400) return 0;
  std::string_view rest = bitsim::fuzz::as_text(data + 6, size - 6);
  Format f;
  try {
    if (data[0] < 0x80) {
      f = parse_format(kFormats[data[0] % kFormats.size()]);
    } else {
      const auto nl = rest.find('\n');
      if (nl == std::string_view::npos) return 0;
      f = parse_format(rest.substr(0, nl));
      rest.remove_prefix(nl + 1);
    }
  } catch (const FormatError&) {
    return 0;
  }
  if (f.width() > 64) return 0;  // Quantizer::quantize returns codes of at most 64 bits
  const std::string text(rest);
  const std::optional<double> x = parse_number(text);
  if (x) {  // whatever parse_number accepts, strtod reads completely, to the same double
    const std::string t = trim(text);
    char* end = nullptr;
    const double s = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || !same_value(s, *x))
      bitsim::fuzz::property_failed("parse_number('" + text + "') differs from strtod");
  } else {
    return 0;
  }
  constexpr std::array kModes = {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr};
  RoundingSpec rs{kModes[data[1] % kModes.size()], 1 + (data[1] / 6) % 32};
  if (f.has_own_rounding()) rs = RoundingSpec{};  // Graham formats define their own rounding
  std::uint32_t word;
  std::memcpy(&word, data + 2, sizeof word);
  const Quantizer q(f, rs);
  Quantized fast;
  GoldenResult golden;
  bool fast_refused = false, golden_refused = false;
  try {
    fast = q.quantize(*x, word);
  } catch (const QuantizeError&) {
    fast_refused = true;
  }
  try {
    golden = golden_quantize(f, *x, rs, word);
  } catch (const QuantizeError&) {
    golden_refused = true;
  }
  const std::string what = f.name() + " " + rounding_name(rs.mode) + " '" + text + "'";
  if (fast_refused != golden_refused) bitsim::fuzz::property_failed(what + ": only one path refuses the value");
  if (fast_refused) return 0;
  if (fast.code.has_value() != golden.code.has_value() || (fast.code && BigInt(*fast.code) != *golden.code))
    bitsim::fuzz::property_failed(what + ": codes differ");
  if (!same_value(fast.value, golden.value)) bitsim::fuzz::property_failed(what + ": values differ");
  if (fast.flags != golden.flags) bitsim::fuzz::property_failed(what + ": flags differ");
  return 0;
}
