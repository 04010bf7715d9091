// `bitsim quantize`: formats.md section 3.
#include "apps/bitsim/cli_numbers.hpp"
#include "io/excerpt.hpp"
#include "apps/bitsim/commands.hpp"
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::cli {

namespace {

using namespace bitsim::formats;

struct QuantizeOptions {
  std::string format;
  std::string rounding = "rne";
  int sr_bits = 32;
  std::string seed_text;
  std::string words_file;
  bool flags = false;
  bool testfloat = false;
};

int fail(const std::string& message) {
  std::cout.flush();
  std::cerr << "bitsim quantize: " << message << "\n";
  return kExitBadInput;
}

// The result of one number, from the fast path where the format allows, else from the golden path.
struct Line {
  std::optional<BigInt> code;
  double value;
  std::uint8_t flags;
};

std::string input_bits_hex(double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return format_hex_upper(BigInt(bits), 16);
}

int run_quantize(const QuantizeOptions& o, const CLI::App& cmd) {
  Format format;
  try {
    format = parse_format(o.format);
  } catch (const FormatError& e) {
    return fail(fmt::format("--format: {}", e.what()));
  }
  auto mode = parse_rounding(o.rounding);
  if (!mode) return fail(fmt::format("--rounding: unknown mode '{}' (expected rne, rna, rtz, rup, rdn or sr)", o.rounding));
  const bool seed_given = cmd.count("--seed") > 0, words_given = cmd.count("--random-words") > 0,
             bits_given = cmd.count("--sr-bits") > 0;
  if (format.is_graham()) {
    if (cmd.count("--rounding") && *mode != Rounding::rne)
      return fail(fmt::format("--rounding {}: format {} defines its own rounding (only rne is allowed)", o.rounding,
                              format.name()));
    if (bits_given || seed_given || words_given)
      return fail(fmt::format("{}: format {} defines its own rounding and takes no random bits",
                              bits_given ? "--sr-bits" : seed_given ? "--seed" : "--random-words", format.name()));
  }
  if (seed_given && words_given) return fail("--seed and --random-words exclude each other");
  const bool sr = *mode == Rounding::sr;
  // Random bits that no rounding would use: say so rather than ignore them.
  if (!sr && (bits_given || seed_given || words_given))
    return fail(fmt::format("{} applies only to --rounding sr (the rounding is {})",
                            bits_given ? "--sr-bits" : seed_given ? "--seed" : "--random-words", o.rounding));
  std::uint64_t seed = 0;
  std::vector<std::uint32_t> words;
  if (sr) {
    if (o.sr_bits < 1 || o.sr_bits > 32) return fail(fmt::format("--sr-bits {}: must be 1..32", o.sr_bits));
    if (seed_given) {
      const auto v = parse_u64_decimal(o.seed_text);
      if (!v) return fail(fmt::format("--seed '{}': expected an unsigned 64-bit decimal", o.seed_text));
      seed = *v;
    }
    if (words_given) {
      try {
        words = read_words_file(o.words_file);
      } catch (const std::exception& e) {
        return fail(fmt::format("--random-words: {}", e.what()));
      }
    }
  }
  const RoundingSpec rs{*mode, o.sr_bits};
  std::unique_ptr<Quantizer> fast;
  try {
    fast = std::make_unique<Quantizer>(format, rs);
  } catch (const QuantizeError& e) {
    return fail(e.what());
  }
  const bool use_fast = fast->scalar_is_fast();
  const PhiloxWords philox(seed);
  const int width = format.width();

  std::string text;
  std::size_t line_no = 0;
  std::uint64_t element = 0;
  while (std::getline(std::cin, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r\n\v\f") == std::string::npos) continue;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    auto x = parse_number(text);
    if (!x) return fail(fmt::format("line {}: cannot parse '{}' as a number", line_no, io::excerpt(text)));
    std::uint32_t word = 0;
    if (sr) {
      if (words_given) {
        if (element >= words.size())
          return fail(fmt::format("line {}: the random-words file '{}' has only {} words", line_no, o.words_file,
                                  words.size()));
        word = words[element];
      } else {
        word = philox.word(element);
      }
    }
    ++element;
    Line r;
    try {
      if (use_fast) {
        Quantized q = fast->quantize(*x, word);
        if (q.code) r.code = BigInt(*q.code);
        r.value = q.value;
        r.flags = q.flags;
      } else {
        GoldenResult g = golden_quantize(format, *x, rs, word);
        r.code = g.code;
        r.value = g.value;
        r.flags = g.flags;
      }
    } catch (const QuantizeError& e) {
      return fail(fmt::format("line {}: {}", line_no, e.what()));
    }
    std::string out;
    if (o.testfloat) {
      out = fmt::format("{} {} {}\n", input_bits_hex(*x), r.code ? format_hex_upper(*r.code, (width + 3) / 4) : "none",
                        format_hex_upper(BigInt(r.flags), 2));
    } else {
      out = fmt::format("{}\t{}", r.code ? format_code(*r.code, width) : "none", format_hex_value(r.value));
      if (o.flags) out += fmt::format("\t{:02x}", r.flags);
      out += "\n";
    }
    std::cout << out;
  }
  std::cout.flush();
  return std::cout ? 0 : fail("error writing standard output");
}

}  // namespace

Runner add_quantize_command(CLI::App& app) {
  auto opts = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Round numbers read from standard input (one per line) to a format");
  cmd->footer(
      "Output: one line per number, CODE<TAB>VALUE: CODE the bit pattern (0x + ceil(width/4) hex digits, or\n"
      "'none' for a Graham +-0), VALUE the exact decoded value as a C99 hex float (nearest double), nan, inf\n"
      "or -inf. Bad input: a message naming the line on stderr, exit status 2.\n"
      "Example: printf '1\\n300\\n0.1\\n' | bitsim quantize --format fp8_e4m3 --flags");
  cmd->add_option("--format", opts->format, "format name or constructor, e.g. fp8_e4m3, float(e=5,m=2), int8")->required();
  cmd->add_option("--rounding", opts->rounding, "rne (default), rna, rtz, rup, rdn or sr");
  cmd->add_option("--sr-bits", opts->sr_bits, "random bits R used by sr, 1..32 (default 32)");
  cmd->add_option("--seed", opts->seed_text, "Philox4x32-10 seed for sr, unsigned 64-bit (default 0)");
  cmd->add_option("--random-words", opts->words_file, "file of 32-bit random words for sr, one per line, used in order");
  cmd->add_flag("--flags", opts->flags, "add a third column: exception flags (10 invalid, 04 overflow, 02 underflow, 01 inexact)");
  cmd->add_flag("--testfloat", opts->testfloat, "print TestFloat conversion lines: INPUT(binary64 hex) RESULT FLAGS");
  return [opts, cmd] { return run_quantize(*opts, *cmd); };
}

}  // namespace bitsim::cli
