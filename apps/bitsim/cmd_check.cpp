// `bitsim check`: compare a device's vectors with bitsim and explain each mismatch (hw/explain.hpp).
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/hw_options.hpp"
#include "hw/explain.hpp"
#include "io/files.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>

namespace bitsim::cli {

namespace {

struct CheckOptions {
  HwOptions hw;
  std::string vectors;
  std::uint64_t explain = 20;
  bool ignore_flags = false;
  bool allow_empty = false;
  std::uint64_t first_index = 0;
};

int fail(const std::string& message) {
  std::cout.flush();
  std::cerr << "bitsim check: " << message << "\n";
  return kExitBadInput;
}

int run_check(const CheckOptions& o, const CLI::App& cmd) {
  hw::VectorSetup setup;
  std::uint64_t seed = 0;
  std::string error;
  if (!make_vector_setup(o.hw, cmd, false, setup, seed, error)) return fail(error);
  // "-" is standard input (`testfloat_gen ... | bitsim check ... -`); a pipe or `<(command)` works too.
  std::ifstream file;
  if (o.vectors != "-") {
    try {
      io::check_input_file(o.vectors);
    } catch (const io::FileError& e) {
      return fail(e.what());
    }
    file.open(o.vectors);
    if (!file) return fail(fmt::format("{}: cannot open", o.vectors));
  }
  std::istream& in = o.vectors == "-" ? std::cin : file;
  std::string text;
  std::size_t line_no = 0;
  std::uint64_t index = 0, mismatches = 0, result_mismatches = 0;
  // How many mismatching vectors each single alternative reproduces (result and flags).
  std::map<std::string, std::uint64_t> explained_by;
  std::uint64_t analysed = 0;
  const std::uint64_t analyse_limit = 2000;
  std::optional<hw::CodeLane> lane;
  if (hw::fits_code_vector(setup)) lane.emplace(setup);
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (hw::is_comment_line(text)) {
      // A header written by `bitsim vectors --header`: say so when it names other options than ours.
      std::string header = text;
      while (!header.empty() && (header.back() == '\r' || header.back() == ' ')) header.pop_back();
      const std::string ours = hw::vector_header(setup, seed);
      if (header.rfind("// bitsim vectors ", 0) == 0 && header != ours)
        std::cout << fmt::format("note: {}:{}: the file says it was written by\n  {}\nbut is checked as\n  {}\n",
                                 o.vectors, line_no, header.substr(3), ours.substr(3));
      continue;
    }
    // Codes of at most 64 bits take the allocation-free lane; a mismatch is then parsed again as a
    // Vector for its explanation.
    hw::Vector device;
    std::uint8_t expected_flags = 0;
    bool result_ok = false, flags_ok = false;
    const std::uint32_t word = hw::vector_word(setup, seed, o.first_index + index++);
    try {
      if (lane) {
        const hw::CodeVector got = lane->parse(text);
        hw::CodeVector want = got;
        lane->expect(want, word);
        result_ok = want.result == got.result;
        flags_ok = o.ignore_flags || want.flags == got.flags;
        if (result_ok && flags_ok) continue;
        device = hw::parse_vector(setup, text);
        expected_flags = want.flags;
      } else {
        device = hw::parse_vector(setup, text);
        const hw::Vector expected = hw::expected_vector(setup, device.operands, word);
        result_ok = expected.result == device.result;
        flags_ok = o.ignore_flags || expected.flags == device.flags;
        if (result_ok && flags_ok) continue;
        expected_flags = expected.flags;
      }
    } catch (const std::exception& e) {  // bad tokens (VectorError), or an operand the operation refuses
      return fail(fmt::format("{}:{}: {}", o.vectors, line_no, e.what()));
    }
    ++mismatches;
    if (!result_ok) ++result_mismatches;
    if (mismatches <= o.explain || analysed < analyse_limit) {
      hw::Vector d = device;
      if (o.ignore_flags) d.flags = expected_flags;
      const hw::Explanation e = hw::explain_vector(setup, d, word);
      ++analysed;
      for (const std::string& m : e.full_matches) ++explained_by[m];
      if (mismatches <= o.explain) {
        std::cout << fmt::format("{}:{}: {} {}\n", o.vectors, line_no, o.hw.op, text);
        std::cout << hw::describe(setup, d, e) << "\n";
      }
    }
  }
  if (in.bad()) return fail(fmt::format("{}: read error", o.vectors));
  // A test bench that lost its vectors (an empty or truncated output file) must not pass.
  if (index == 0 && !o.allow_empty)
    return fail(fmt::format("{}: no vectors to check (an empty file, or only comments); --allow-empty accepts that", o.vectors));
  if (mismatches > o.explain) std::cout << fmt::format("({} more mismatches not shown; --explain N shows more)\n", mismatches - o.explain);
  std::cout << fmt::format("check: {} vectors, {} mismatches ({} in the result, {} in the flags only)\n", index,
                           mismatches, result_mismatches, mismatches - result_mismatches);
  if (mismatches) {
    std::string all;
    for (const auto& [change, n] : explained_by)
      if (n == analysed) all += " [" + change + "]";
    if (!all.empty())
      std::cout << fmt::format("every mismatch{} is reproduced by:{}\n",
                               analysed < mismatches ? fmt::format(" of the first {}", analysed) : std::string(), all);
    else
      std::cout << "no single option reproduces every mismatch: a bug rather than a mode\n";
  }
  std::cout.flush();
  if (!std::cout) return fail("error writing standard output");
  return mismatches ? 1 : 0;
}

}  // namespace

Runner add_check_command(CLI::App& app) {
  auto opts = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand("check", "Check a device's test vectors (TestFloat line format) against bitsim");
  add_hw_options(*cmd, opts->hw);
  cmd->add_option("VECTORS", opts->vectors, "file of vectors written by the device under test; - reads standard input")->required();
  cmd->add_option("--explain", opts->explain, "explain at most this many mismatches in detail (default 20)")->check(non_negative_integer());
  cmd->add_flag("--ignore-flags", opts->ignore_flags, "compare results only (the flags column must still be present)");
  cmd->add_flag("--allow-empty", opts->allow_empty, "a file without vectors passes (by default it is an error, exit 2)");
  cmd->add_option("--first-index", opts->first_index, "sr: the Philox word index of the file's first vector (default 0)")->check(non_negative_integer());
  cmd->footer(
      "Each mismatch: the bits and flags that differ, the distance in ulps, and which other rounding mode or\n"
      "option (tininess, nan, daz, ftz, notexact for conversions to fixed point; one change, else two) gives\n"
      "the device's output.\n"
      "Exit status: 0 every vector matches; 1 some do not; 2 bad input or options (also a file without any\n"
      "vector, unless --allow-empty).\n"
      "Example: bitsim check mul --format fp8_e4m3 dut_out.hex");
  return [opts, cmd] { return run_check(*opts, *cmd); };
}

}  // namespace bitsim::cli
