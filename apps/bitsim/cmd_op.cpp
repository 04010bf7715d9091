// `bitsim op`: one operation per line of operands read from standard input (docs/hardware.md).
#include "apps/bitsim/commands.hpp"
#include "io/excerpt.hpp"
#include "apps/bitsim/hw_options.hpp"
#include "formats/format_text.hpp"
#include "formats/random_words.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace bitsim::cli {

namespace {

using namespace bitsim::formats;

struct OpCommandOptions {
  HwOptions hw;
  bool codes = false;
  bool flags = false;
  bool exact = false;
  bool testfloat = false;
  bool exact_input = false;
};

int fail(const std::string& message) {
  std::cout.flush();
  std::cerr << "bitsim op: " << message << "\n";
  return kExitBadInput;
}

// An operand token: a hex code (--codes) or a number that must be a value of the format, read as the
// nearest double (strtod) or, with --exact-input, as the exact value its text spells.
BigInt read_operand(const Format& format, std::string_view token, bool codes, bool exact, int position) {
  if (codes) return hw::parse_hex_token(token, format.width(), "code", position);
  std::optional<ExactInput> x;
  if (exact) x = parse_exact_number(token);
  else if (const auto d = parse_number(token)) x = ExactInput::from_double(*d);
  if (!x) throw ArithError(fmt::format("'{}' is not a number (give codes with --codes)", io::excerpt(token)));
  GoldenResult g;
  try {
    g = golden_quantize_exact(format, *x, {});
  } catch (const QuantizeError& e) {
    throw ArithError(fmt::format("'{}': {}", io::excerpt(token), e.what()));
  }
  if (g.flags != 0 || !g.code)
    throw ArithError(fmt::format("'{}' is not a value of {} (nearest: {}); give a value of the format, or its code "
                                 "with --codes",
                                 io::excerpt(token), format.name(), format_hex_value(g.value)));
  return *g.code;
}

int run_op(const OpCommandOptions& o, const CLI::App& cmd) {
  hw::VectorSetup setup;
  std::uint64_t seed = 0;
  std::string error;
  if (!make_vector_setup(o.hw, cmd, false, setup, seed, error)) return fail(error);
  if (o.codes && o.exact_input) return fail("--exact-input reads numbers, --codes reads codes: give one of them");
  const int arity = op_arity(setup.op);
  std::string text;
  std::size_t line_no = 0;
  std::uint64_t index = 0;
  while (std::getline(std::cin, text)) {
    ++line_no;
    const auto tokens = hw::split_tokens(text);
    if (tokens.empty()) continue;
    if (static_cast<int>(tokens.size()) != arity)
      return fail(fmt::format("line {}: {} takes {} operand(s) per line, found {}", line_no, o.hw.op, arity, tokens.size()));
    std::vector<BigInt> operands;
    ArithResult r;
    try {
      for (int k = 0; k < arity; ++k) {
        try {
          operands.push_back(read_operand(setup.format, tokens[k], o.codes, o.exact_input, k + 1));
        } catch (const std::exception& e) {
          throw ArithError(fmt::format("operand {}: {}", k + 1, e.what()));
        }
      }
      r = arith(setup.op, setup.format, operands, setup.options, hw::vector_word(setup, seed, index++),
                setup.to ? &*setup.to : nullptr);
    } catch (const std::exception& e) {
      return fail(fmt::format("line {}: {}", line_no, e.what()));
    }
    std::string out;
    if (o.testfloat) {
      out = hw::format_vector(setup, hw::Vector{operands, r.code, r.flags});
    } else {
      out = fmt::format("{}\t{}", format_code(r.code, r.width), format_hex_value(r.value));
      if (o.flags) out += fmt::format("\t{:02x}", r.flags);
      if (o.exact) out += "\t" + r.unrounded.to_string();
    }
    std::cout << out << "\n";
  }
  std::cout.flush();
  return std::cout ? 0 : fail("error writing standard output");
}

}  // namespace

Runner add_op_command(CLI::App& app) {
  auto opts = std::make_shared<OpCommandOptions>();
  CLI::App* cmd = app.add_subcommand("op", "Compute an operation in a format, exactly rounded, for each line of operands on stdin");
  add_hw_options(*cmd, opts->hw);
  cmd->add_flag("--codes", opts->codes, "operands are hex codes (as in vector files) instead of numbers");
  cmd->add_flag("--flags", opts->flags, "add a column: the flags (10 invalid, 08 divide-by-zero, 04 overflow, 02 underflow, 01 inexact)");
  cmd->add_flag("--exact", opts->exact, "add a column: the exact result before rounding (a rational, or sqrt of one)");
  cmd->add_flag("--testfloat", opts->testfloat, "print TestFloat vector lines instead: OPERANDS RESULT FLAGS in hex");
  cmd->add_flag("--exact-input", opts->exact_input,
                "read operands as the exact values their text spells (formats wider than a double, 64-bit integers)");
  cmd->footer(
      "Input: one operation per line, its operands separated by spaces: numbers (decimal, C99 hex float, nan,\n"
      "inf) that are values of the format, or hex codes with --codes. Output, as bitsim quantize: CODE<TAB>VALUE;\n"
      "comparisons give 0x0 or 0x1. sr takes Philox word i (--seed) for line i.\n"
      "Exit status: 0 success; 2 bad input or options (a message naming the line, operand or option).\n"
      "Example: printf '1.5 2.25\\n448 2\\n' | bitsim op mul --format fp8_e4m3 --flags");
  return [opts, cmd] { return run_op(*opts, *cmd); };
}

}  // namespace bitsim::cli
