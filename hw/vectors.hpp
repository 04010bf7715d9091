// Test vectors for hardware verification, in Berkeley TestFloat's line format: one vector per line,
// the operands, the result and the flags as upper-case hex tokens separated by single spaces, e.g.
// `3C 45 44 01` for an fp8 multiply. Each token has ceil(width/4) digits of its format (the result of
// a comparison is one digit, 0 or 1; flags are two digits, TestFloat's bits). $readmemh reads such a
// file directly, one memory word per token.
#pragma once

#include "hw/arith.hpp"
#include "hw/arith_fast.hpp"
#include "formats/format.hpp"
#include "io/error.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::hw {

class VectorError : public bitsim::Error {
 public:
  using Error::Error;
};

// What a vector file is about: the operation, the operands' format, convert's destination format and
// the arithmetic options (rounding, tininess, NaN convention, DAZ/FTZ).
struct VectorSetup {
  formats::Op op = formats::Op::add;
  formats::Format format;
  std::optional<formats::Format> to;  // convert only
  formats::ArithOptions options;
  const formats::Format& result_format() const { return to ? *to : format; }
  int result_width() const;  // 1 for comparisons
};

struct Vector {
  std::vector<formats::BigInt> operands;
  formats::BigInt result;
  std::uint8_t flags = 0;
};

// The expected vector for operands under `setup` (`word`: the sr random word).
Vector expected_vector(const VectorSetup& setup, const std::vector<formats::BigInt>& operands, std::uint32_t word);

// The lane of `bitsim check` and `bitsim vectors` for formats at most 64 bits wide (operands and
// result): a vector of 64-bit codes, parsed without allocating and computed by the prepared fast path.
struct CodeVector {
  std::uint64_t operands[3] = {0, 0, 0};
  std::uint64_t result = 0;
  std::uint8_t flags = 0;
};
// Whether the setup's operand and result formats are at most 64 bits wide.
bool fits_code_vector(const VectorSetup& setup);

// The code lane of one setup (fits_code_vector(setup); the setup must outlive the lane): the fast path
// prepared once, the token widths computed once.
class CodeLane {
 public:
  explicit CodeLane(const VectorSetup& setup);
  // parse_vector into codes: the same tokens, the same errors.
  CodeVector parse(std::string_view line) const;
  // The expected result and flags of v.operands, written into v (the golden path where the fast one
  // does not apply).
  void expect(CodeVector& v, std::uint32_t word) const;
  // Appends the TestFloat line text of v (no newline) to `out`.
  void append(const CodeVector& v, std::string& out) const;

 private:
  const VectorSetup& setup_;
  int arity_, width_, result_width_;
  std::optional<formats::FastArith> fast_;
};

// TestFloat line text of a vector (no newline).
std::string format_vector(const VectorSetup& setup, const Vector& v);

// Parses one line: arity + 2 hex tokens (surrounding spaces and a trailing CR ignored; tokens may be
// separated by any run of spaces or tabs). Throws VectorError naming the token that is wrong: not hex,
// wider than its format, or the wrong number of tokens.
Vector parse_vector(const VectorSetup& setup, std::string_view line);

// The whitespace-separated tokens of a line (spaces, tabs, a CR).
std::vector<std::string_view> split_tokens(std::string_view line);

// A hex code token (optionally 0x-prefixed) of at most `width` bits; throws VectorError naming the
// token, `what` ("operand", "result", ...) and its 1-based `position` on the line.
formats::BigInt parse_hex_token(std::string_view token, int width, const char* what, int position);

// Interesting operand codes of a format (testfloat_gen level 1's spirit): zeros, the subnormal and
// normal boundaries, 1 and its neighbours, the largest finite values, infinities, quiet and signalling
// NaNs (floats); 0, +-1 quantum, +-1, the range ends and their neighbours (fixed). Sorted, no repeats.
std::vector<formats::BigInt> corner_operands(const formats::Format& format);

struct GenerateOptions {
  std::uint64_t count = 10000;  // random vectors after the corner cases
  std::uint64_t seed = 0;       // operand choice and sr words
  bool exhaustive = false;      // every operand tuple instead (formats small enough)
};

// Generates the vectors: every tuple of corner operands (for three operands, of a reduced corner set),
// operand pairs that put add/sub results exactly on rounding ties and mul pairs that often do (a times
// +-1.5 or 0.75), then `count` random tuples (half
// uniformly random codes, half with nearby exponents so that cancellation and rounding are exercised).
// With `exhaustive`, every operand tuple in code order (at most 2^24; else VectorError). Calls `emit`
// once per vector; the sr word of vector i is Philox word i of the seed (formats.md section 2).
// With `emit_codes`, the exhaustive and random tuples of formats up to 64 bits are given to it as codes
// instead, with the lane that computed them (the same vectors in the same order, without BigInts).
void generate_vectors(const VectorSetup& setup, const GenerateOptions& options, const std::function<void(const Vector&)>& emit,
                      const std::function<void(const CodeLane&, const CodeVector&)>& emit_codes = nullptr);

// A comment line naming what produced a vector file, which is also the command that reproduces it:
// "// bitsim vectors mul --format float(e=4,m=3,special=fn) --rounding rne --tininess after --nan
// canonical --seed 0" (plus --to, --sr-bits, --daz, --ftz, --notexact when they apply). $readmemh skips `//`
// comments; TestFloat's own tools do not, so `bitsim vectors` writes it only when asked (--header).
std::string vector_header(const VectorSetup& setup, std::uint64_t seed);

// Whether a line is a comment (starts with "//" after spaces); parse_vector must not be given one.
bool is_comment_line(std::string_view line);

// The sr random word of vector `index`.
std::uint32_t vector_word(const VectorSetup& setup, std::uint64_t seed, std::uint64_t index);

}  // namespace bitsim::hw
