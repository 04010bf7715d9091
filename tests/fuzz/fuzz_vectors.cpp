// Fuzz target: what `bitsim check` and the C interface read from users - arithmetic options text
// (formats::parse_arith_options) and TestFloat vector lines (hw::parse_vector) - and the golden
// arithmetic and mismatch explanation run on whatever parses. Input: byte 0 picks the operation and
// format; the first line is an options text; every further line is a vector line.
// Properties: the readers return or throw their documented exception (ArithError, VectorError) and
// nothing else; options and vectors print back to text that parses to the same value; arithmetic and
// explanation of any parsed vector succeed, and a vector equal to bitsim's own explains as a match.
#include "fuzz_input.hpp"

#include "hw/arith.hpp"
#include "hw/explain.hpp"
#include "hw/vectors.hpp"

#include <string>
#include <string_view>

using namespace bitsim;
using namespace bitsim::formats;

namespace {

struct Setup {
  Op op;
  const char* format;
  const char* to;
};

constexpr Setup kSetups[] = {
    {Op::mul, "fp8_e4m3", nullptr},      {Op::add, "fp8_e5m2", nullptr},     {Op::fma, "fp6_e2m3", nullptr},
    {Op::div, "fixed(i=3,f=4)", nullptr}, {Op::sqrt, "fp16", nullptr},        {Op::min, "bf16", nullptr},
    {Op::lt, "fp8_e4m3fnuz", nullptr},   {Op::convert, "fp16", "int8"},      {Op::convert, "fp8_e5m2", "fp4_e2m1"},
    {Op::sub, "float(e=3,m=4,subnormals=no)", nullptr},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 2048) return 0;
  const Setup& pick = kSetups[data[0] % (sizeof kSetups / sizeof kSetups[0])];
  hw::VectorSetup setup;
  setup.op = pick.op;
  setup.format = parse_format(pick.format);
  if (pick.to) setup.to = parse_format(pick.to);
  const std::string text(bitsim::fuzz::as_text(data + 1, size - 1));
  std::string_view rest = text;
  const std::size_t nl = rest.find('\n');
  const std::string_view options_text = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  try {
    setup.options = parse_arith_options(options_text);
  } catch (const ArithError&) {
    setup.options = ArithOptions{};
  }
  const std::string printed = arith_options_to_string(setup.options);
  try {
    if (!(parse_arith_options(printed) == setup.options))
      bitsim::fuzz::property_failed("options '" + printed + "' parse back to other options");
  } catch (const ArithError& e) {
    bitsim::fuzz::property_failed("options '" + printed + "' printed by bitsim do not parse: " + e.what());
  }
  int lines = 0;
  while (!rest.empty() && lines++ < 8) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    hw::Vector v;
    try {
      v = hw::parse_vector(setup, line);
    } catch (const hw::VectorError&) {
      continue;
    }
    const std::string again = hw::format_vector(setup, v);
    const hw::Vector w = hw::parse_vector(setup, again);  // must parse: a VectorError here is a failure
    if (w.operands != v.operands || w.result != v.result || w.flags != v.flags)
      bitsim::fuzz::property_failed("vector line '" + again + "' parses to another vector");
    const hw::Explanation e = hw::explain_vector(setup, v, 0x12345678u);
    const bool equal = e.expected.result == v.result && e.expected.flags == v.flags;
    if (equal != (e.differing_bits == 0 && e.extra_flags == 0 && e.missing_flags == 0))
      bitsim::fuzz::property_failed("explanation of '" + again + "' disagrees with the comparison");
    (void)hw::describe(setup, v, e);
  }
  return 0;
}
