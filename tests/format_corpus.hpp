// The formats the tests sweep: every alias and a generated family of constructor forms covering
// each float option (exponent/fraction widths, bias, subnormals, the four special policies, the
// overflow policies), fixed point signed/unsigned/saturate/wrap and Graham formats.
#pragma once

#include "formats/format.hpp"
#include "formats/golden.hpp"

#include <string>
#include <vector>

namespace bitsim::test {

// Formats of at most 16 bits: tested exhaustively over all codes.
const std::vector<std::string>& small_formats();
// Wider formats that fit a double (fp32, fp64, int32, tf32, ...): tested on random and boundary inputs.
const std::vector<std::string>& wide_formats();

// Rounding modes valid for a format (Graham formats: rne only).
std::vector<formats::Rounding> modes_for(const formats::Format& f);

// Every code of a format of at most 16 bits with its golden decoding (codes a Graham format does not
// use are skipped).
struct DecodedCode {
  std::uint64_t code;
  formats::GoldenResult g;
};
std::vector<DecodedCode> all_codes(const formats::Format& f);

// Adversarial inputs for a format: its values, their neighbouring doubles, exact midpoints between
// consecutive values and their neighbours, points near the largest finite value and beyond, subnormal
// boundaries, both zeros, infinities, NaN, and `random_count` random doubles spread over the format's
// range. With `stride` > 1 only every stride-th value seeds neighbours (for 16-bit formats).
std::vector<double> adversarial_inputs(const formats::Format& f, std::size_t random_count, unsigned stride, unsigned seed);

// Bitwise equality of doubles, with all NaNs equal.
bool same_double(double a, double b);

}  // namespace bitsim::test
