// Fast path versus golden path on one input: same error behaviour, code, value bits and flags.
#pragma once

#include "format_corpus.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>

namespace bitsim::test {

// Returns a description of the first difference, or nullopt when fast and golden agree.
inline std::optional<std::string> compare_fast_golden(const formats::Quantizer& q, double x, std::uint32_t word) {
  using namespace bitsim::formats;
  std::optional<Quantized> fast;
  std::optional<GoldenResult> gold;
  std::string fast_err, gold_err;
  try {
    fast = q.quantize(x, word);
  } catch (const QuantizeError& e) {
    fast_err = e.what();
  }
  try {
    gold = golden_quantize(q.format(), x, q.rounding(), word);
  } catch (const QuantizeError& e) {
    gold_err = e.what();
  }
  const std::string where = fmt::format("format {} mode {} R={} x={} ({}) word=0x{:08x}", q.format().name(),
                                        rounding_name(q.rounding().mode), q.rounding().sr_bits, format_hex_value(x), x, word);
  if (fast.has_value() != gold.has_value())
    return fmt::format("{}: fast {} / golden {}", where, fast ? "ok" : "error: " + fast_err, gold ? "ok" : "error: " + gold_err);
  if (!fast) return std::nullopt;
  const std::string fc = fast->code ? format_code(*fast->code, 64) : "none";
  const std::string gc = gold->code ? format_code(*gold->code, 64) : "none";
  if (fc != gc || !same_double(fast->value, gold->value) || fast->flags != gold->flags)
    return fmt::format("{}: fast code {} value {} flags {:02x} / golden code {} value {} flags {:02x}", where, fc,
                       format_hex_value(fast->value), fast->flags, gc, format_hex_value(gold->value), gold->flags);
  return std::nullopt;
}

}  // namespace bitsim::test
