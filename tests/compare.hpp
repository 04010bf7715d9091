// Fast path versus golden path on one input: same error behaviour, code, value bits and flags.
#pragma once

#include "format_corpus.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

// Every path of a format against the golden path on its adversarial inputs (both signs, +-0, +-Inf and,
// where the format has one, NaN), in every rounding mode: the fast scalar path (code, value, flags) and
// the double and float array loops (values). Appends at most 10 failures; returns how many inputs it
// checked.
inline std::size_t compare_all_paths(const formats::Format& f, unsigned seed, std::vector<std::string>& failures) {
  using namespace bitsim::formats;
  std::vector<double> inputs;
  for (double x : adversarial_inputs(f, 300, 1, seed))
    if (!std::isnan(x) || !f.is<FloatFormat>() || f.as<FloatFormat>().has_nan()) inputs.push_back(x);
  std::size_t checked = 0;
  for (Rounding mode : modes_for(f)) {
    const Quantizer q(f, {mode, 32});
    std::vector<std::uint32_t> words(inputs.size());
    for (std::size_t i = 0; i < words.size(); ++i) words[i] = static_cast<std::uint32_t>(i * 2654435761u);
    std::vector<double> out(inputs.size());
    q.quantize(std::span<const double>(inputs), std::span<double>(out), words);
    std::vector<float> in_f, out_f;
    for (double x : inputs) in_f.push_back(static_cast<float>(x));
    out_f.resize(in_f.size());
    if (q.supports_float_arrays()) q.quantize(std::span<const float>(in_f), std::span<float>(out_f), words);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      ++checked;
      if (auto diff = compare_fast_golden(q, inputs[i], words[i]); diff && failures.size() < 10) failures.push_back(*diff);
      const GoldenResult g = golden_quantize(f, inputs[i], {mode, 32}, words[i]);
      if (!same_double(out[i], g.value) && failures.size() < 10)
        failures.push_back(fmt::format("{} {} double array: {} gives {} (golden {})", f.name(), rounding_name(mode), inputs[i], out[i], g.value));
      const GoldenResult gf = golden_quantize(f, static_cast<double>(in_f[i]), {mode, 32}, words[i]);
      if (q.supports_float_arrays() && !same_double(out_f[i], gf.value) && failures.size() < 10)
        failures.push_back(fmt::format("{} {} float array: {} gives {} (golden {})", f.name(), rounding_name(mode), in_f[i], out_f[i], gf.value));
    }
  }
  return checked;
}

}  // namespace bitsim::test
