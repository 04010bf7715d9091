// Fuzz target: the format-spec parser (formats::parse_format), as `--format` and every config role
// reach it. Properties: the parser either returns a Format or throws FormatError (any other exception
// or a crash is a bug); a parsed format prints to a canonical form and an alias that parse back to an
// equal format; the quantizer compiles it and decodes its extreme codes like the golden path.
#include "fuzz_input.hpp"

#include "formats/format.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <cmath>
#include <cstring>

using namespace bitsim::formats;

namespace {

void check_round_trip(const Format& f, const std::string& text, const char* which) {
  Format g;
  try {
    g = parse_format(text);
  } catch (const FormatError& e) {
    bitsim::fuzz::property_failed(std::string(which) + " '" + text + "' of a parsed format does not parse: " + e.what());
  }
  if (!(g == f)) bitsim::fuzz::property_failed(std::string(which) + " '" + text + "' parses to another format");
}

bool same_value(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 512) return 0;  // specs are short; longer inputs only slow the search down
  const std::string text(bitsim::fuzz::as_text(data, size));
  Format f;
  try {
    f = parse_format(text);
  } catch (const FormatError&) {
    return 0;  // the documented refusal
  }
  check_round_trip(f, f.to_string(), "to_string()");
  check_round_trip(f, f.name(), "name()");
  if (f.width() > 24) return 0;  // the golden decode below is exact but slow for wide formats
  const Quantizer q(f);
  // The codes at both ends of the code range and a middle one decode as the golden path does (or
  // both refuse a code the format does not use).
  const std::uint64_t top = (std::uint64_t{1} << f.width()) - 1;
  for (const std::uint64_t code : {std::uint64_t{0}, std::uint64_t{1}, top / 2, top / 2 + 1, top}) {
    double fast = 0;
    bool fast_refused = false, golden_refused = false;
    try {
      fast = q.decode(code);
    } catch (const QuantizeError&) {
      fast_refused = true;
    }
    GoldenResult g;
    try {
      g = golden_decode(f, BigInt(code));
    } catch (const QuantizeError&) {
      golden_refused = true;
    }
    if (fast_refused != golden_refused)
      bitsim::fuzz::property_failed(text + ": decode and golden_decode disagree on whether code " + std::to_string(code) +
                                    " exists");
    if (!fast_refused && !same_value(fast, g.value))
      bitsim::fuzz::property_failed(text + ": decode(" + std::to_string(code) + ") differs from golden_decode");
  }
  return 0;
}
