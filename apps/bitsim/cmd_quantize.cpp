// `bitsim quantize`: formats.md section 3.
#include "apps/bitsim/cli_numbers.hpp"
#include "apps/bitsim/commands.hpp"
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "io/excerpt.hpp"
#include "io/files.hpp"
#include "io/npy.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <variant>
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
  bool exact_input = false;
  std::string input_format = "text";
  std::string output_format = "text";
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

// One input element: a double (text read as strtod does, or binary input), or the exact rational the
// text spells (--exact-input).
using Element = std::variant<double, ExactInput>;

// Binary input (--input-format f32, f64, npy): every value of standard input, and the array's shape.
struct BinaryInput {
  std::vector<double> values;
  std::vector<std::int64_t> shape;
  bool fortran_order = false;
};

BinaryInput read_binary_input(const std::string& input_format) {
  const std::string bytes{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) throw io::FileError("standard input", "read error");
  BinaryInput in;
  if (input_format == "npy") {
    const io::NpyArray a = io::parse_npy(bytes, "standard input (--input-format npy)");
    in.values = io::npy_doubles(a, "standard input");
    in.shape = a.shape;
    in.fortran_order = a.fortran_order;
    return in;
  }
  const std::size_t size = input_format == "f32" ? 4 : 8;
  if (bytes.size() % size != 0)
    throw bitsim::Error(fmt::format("standard input (--input-format {}): {} bytes is not a whole number of {}-byte values",
                                         input_format, bytes.size(), size));
  in.values.resize(bytes.size() / size);
  for (std::size_t i = 0; i < in.values.size(); ++i) {
    if (size == 4) {
      float f;
      std::memcpy(&f, bytes.data() + 4 * i, 4);
      in.values[i] = f;
    } else {
      std::memcpy(&in.values[i], bytes.data() + 8 * i, 8);
    }
  }
  in.shape = {static_cast<std::int64_t>(in.values.size())};
  return in;
}

// The smallest unsigned numpy dtype that holds codes of `width` bits.
std::string code_dtype(int width) { return width <= 8 ? "|u1" : width <= 16 ? "<u2" : width <= 32 ? "<u4" : "<u8"; }

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
  if (format.has_own_rounding()) {
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
  if (o.input_format != "text" && o.input_format != "f32" && o.input_format != "f64" && o.input_format != "npy")
    return fail(fmt::format("--input-format '{}': expected text, f32, f64 or npy", io::excerpt(o.input_format)));
  if (o.output_format != "text" && o.output_format != "codes-npy" && o.output_format != "values-npy")
    return fail(fmt::format("--output-format '{}': expected text, codes-npy or values-npy", io::excerpt(o.output_format)));
  if (o.exact_input && o.input_format != "text")
    return fail(fmt::format("--exact-input reads text; --input-format {} values are exact already", o.input_format));
  if (o.exact_input && o.testfloat)
    return fail("--testfloat writes each input as binary64 bits, which an exact input may not be; drop one of them");
  if (o.output_format != "text" && (o.testfloat || o.flags))
    return fail(fmt::format("--output-format {} writes an array of {}; --flags and --testfloat are for text output",
                            o.output_format, o.output_format == "codes-npy" ? "codes" : "values"));
  if (o.output_format == "codes-npy" && format.width() > 64)
    return fail(fmt::format("--output-format codes-npy: {} codes have {} bits, more than numpy's 64", format.name(), format.width()));
  std::uint64_t seed = 0;
  std::vector<std::uint32_t> words;
  if (sr) {
    if (o.sr_bits < 1 || o.sr_bits > 32) return fail(fmt::format("--sr-bits {}: must be 1..32", o.sr_bits));
    if (seed_given) {
      const auto v = parse_u64_decimal(o.seed_text);
      if (!v) return fail(fmt::format("--seed '{}': expected an unsigned 64-bit decimal", io::excerpt(o.seed_text)));
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

  const bool text_out = o.output_format == "text";
  const int code_bytes = width <= 8 ? 1 : width <= 16 ? 2 : width <= 32 ? 4 : 8;
  std::string out, array;  // text: written as it grows; an array: written whole at the end
  // Element i (named `where` in messages): rounded, then appended to the output.
  auto process = [&](std::uint64_t i, const Element& element, const std::string& where) -> std::optional<std::string> {
    std::uint32_t word = 0;
    if (sr) {
      if (words_given) {
        if (i >= words.size())
          return fmt::format("{}: the random-words file '{}' has only {} words", where, o.words_file, words.size());
        word = words[i];
      } else {
        word = philox.word(i);
      }
    }
    Line r;
    try {
      if (const double* x = std::get_if<double>(&element); x && use_fast) {
        Quantized q = fast->quantize(*x, word);
        if (q.code) r.code = BigInt(*q.code);
        r.value = q.value;
        r.flags = q.flags;
      } else {
        GoldenResult g = x ? golden_quantize(format, *x, rs, word) : golden_quantize_exact(format, std::get<ExactInput>(element), rs, word);
        r.code = g.code;
        r.value = g.value;
        r.flags = g.flags;
      }
    } catch (const QuantizeError& e) {
      return fmt::format("{}: {}", where, e.what());
    }
    if (o.output_format == "codes-npy") {
      if (!r.code) return fmt::format("{}: {} has no code for +-0; --output-format values-npy gives the values", where, format.name());
      const auto c = static_cast<std::uint64_t>(*r.code);  // little-endian: its low code_bytes bytes
      array.append(reinterpret_cast<const char*>(&c), static_cast<std::size_t>(code_bytes));
    } else if (o.output_format == "values-npy") {
      array.append(reinterpret_cast<const char*>(&r.value), sizeof r.value);
    } else if (o.testfloat) {
      out += fmt::format("{} {} {}\n", input_bits_hex(std::get<double>(element)), r.code ? format_hex_upper(*r.code, (width + 3) / 4) : "none",
                         format_hex_upper(BigInt(r.flags), 2));
    } else {
      out += fmt::format("{}\t{}", r.code ? format_code(*r.code, width) : "none", format_hex_value(r.value));
      if (o.flags) out += fmt::format("\t{:02x}", r.flags);
      out += "\n";
    }
    if (out.size() > (1u << 16)) {
      std::cout << out;
      out.clear();
    }
    return std::nullopt;
  };

  // An error stops at its line: the text lines before it are written (as each line is, when it is
  // read), then the message; an array output is not written at all.
  auto stop = [&](const std::string& message) {
    if (text_out) std::cout << out;
    return fail(message);
  };
  std::uint64_t count = 0;
  std::vector<std::int64_t> shape;
  bool fortran_order = false;
  if (o.input_format == "text") {
    // Line by line: memory stays flat however long the input.
    std::string text;
    std::size_t line_no = 0;
    while (std::getline(std::cin, text)) {
      ++line_no;
      if (text.find_first_not_of(" \t\r\n\v\f") == std::string::npos) continue;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      Element element;
      if (o.exact_input) {
        auto x = parse_exact_number(text);
        if (!x)
          return stop(fmt::format("line {}: cannot read '{}' as an exact number (decimal or hex, at most {} characters, "
                                  "a decimal exponent of at most 4 digits)",
                                  line_no, io::excerpt(text), kMaxExactNumberChars));
        element = std::move(*x);
      } else {
        auto x = parse_number(text);
        if (!x) return stop(fmt::format("line {}: cannot parse '{}' as a number", line_no, io::excerpt(text)));
        element = *x;
      }
      if (auto error = process(count++, element, fmt::format("line {}", line_no))) return stop(*error);
    }
    shape = {static_cast<std::int64_t>(count)};
  } else {
    BinaryInput in;
    try {
      in = read_binary_input(o.input_format);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    for (const double x : in.values)
      if (auto error = process(count, x, fmt::format("element {}", count)); error) return stop(*error);
      else ++count;
    shape = in.shape;
    fortran_order = in.fortran_order;
  }
  if (text_out) std::cout << out;
  else std::cout << io::npy_file(o.output_format == "codes-npy" ? code_dtype(width) : "<f8", fortran_order, shape, array);
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
      "or -inf. By default each number is read as strtod reads it, to the nearest double (so the result may\n"
      "be rounded twice, and a 64-bit integer may not fit); --exact-input takes the text as the exact value it\n"
      "spells and rounds once. Binary input: --input-format f32 or f64 (raw little-endian values) or npy (a\n"
      "numpy .npy file of float32 or float64); --output-format codes-npy or values-npy writes a .npy array of\n"
      "the same shape (codes in the smallest unsigned dtype that holds them; values as float64).\n"
      "Exit status: 0 success; 2 bad input or options (a message naming the line, element or option on stderr).\n"
      "Examples: printf '1\\n300\\n0.1\\n' | bitsim quantize --format fp8_e4m3 --flags\n"
      "          echo 9223372036854775807 | bitsim quantize --format 'fixed(i=63,f=0)' --exact-input --flags\n"
      "          python3 -c 'import numpy as np, sys; np.save(sys.stdout.buffer, np.random.randn(4, 8))' |\n"
      "            bitsim quantize --format bf16 --input-format npy --output-format codes-npy > codes.npy");
  cmd->add_option("--format", opts->format, "format name or constructor, e.g. fp8_e4m3, float(e=5,m=2), int8")->required();
  cmd->add_option("--rounding", opts->rounding, "rne (default), rna, rtz, rup, rdn or sr");
  cmd->add_option("--sr-bits", opts->sr_bits, "random bits R used by sr, 1..32 (default 32)");
  cmd->add_option("--seed", opts->seed_text, "Philox4x32-10 seed for sr, unsigned 64-bit (default 0)");
  cmd->add_option("--random-words", opts->words_file, "file of 32-bit random words for sr, one per line, used in order");
  cmd->add_flag("--flags", opts->flags, "add a third column: exception flags (10 invalid, 04 overflow, 02 underflow, 01 inexact)");
  cmd->add_flag("--testfloat", opts->testfloat, "print TestFloat conversion lines: INPUT(binary64 hex) RESULT FLAGS");
  cmd->add_flag("--exact-input", opts->exact_input,
                "read each number as the exact rational its text spells (decimal or hex, any number of digits), then round once");
  cmd->add_option("--input-format", opts->input_format, "text (default, one number per line), f32, f64 (raw little-endian) or npy");
  cmd->add_option("--output-format", opts->output_format, "text (default), codes-npy or values-npy (a .npy array on stdout)");
  return [opts, cmd] { return run_quantize(*opts, *cmd); };
}

}  // namespace bitsim::cli
