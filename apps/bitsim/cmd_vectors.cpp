// `bitsim vectors`: test vectors in Berkeley TestFloat's line format (hw/vectors.hpp).
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/hw_options.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace bitsim::cli {

namespace {

struct VectorsOptions {
  HwOptions hw;
  std::uint64_t count = 10000;
  bool exhaustive = false;
  bool header = false;
};

// 2^32 vectors of a binary 16-bit operation are about 70 GB of text.
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 32;

int fail(const std::string& message) {
  std::cout.flush();
  std::cerr << "bitsim vectors: " << message << "\n";
  return kExitBadInput;
}

int run_vectors(const VectorsOptions& o, const CLI::App& cmd) {
  hw::VectorSetup setup;
  hw::GenerateOptions g;
  std::string error;
  if (!make_vector_setup(o.hw, cmd, true, setup, g.seed, error)) return fail(error);
  if (o.count > kMaxCount)
    return fail(fmt::format("--count {}: more than the limit of 2^32 random vectors per file (write several files "
                            "with different --seed values)", o.count));
  g.count = o.count;
  g.exhaustive = o.exhaustive;
  std::string buffer;
  if (o.header) buffer = hw::vector_header(setup, g.seed) + "\n";
  try {
    auto flush = [&] {
      buffer += '\n';
      if (buffer.size() > (1u << 16)) {
        std::cout << buffer;
        buffer.clear();
      }
    };
    hw::generate_vectors(
        setup, g,
        [&](const hw::Vector& v) {
          buffer += hw::format_vector(setup, v);
          flush();
        },
        [&](const hw::CodeLane& lane, const hw::CodeVector& v) {
          lane.append(v, buffer);
          flush();
        });
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::cout << buffer;
  std::cout.flush();
  return std::cout ? 0 : fail("error writing standard output");
}

}  // namespace

Runner add_vectors_command(CLI::App& app) {
  auto opts = std::make_shared<VectorsOptions>();
  CLI::App* cmd = app.add_subcommand("vectors", "Write test vectors (TestFloat line format) for an operation in a format");
  add_hw_options(*cmd, opts->hw);
  cmd->add_option("--count", opts->count, "random vectors after the corner cases (default 10000)")->check(non_negative_integer());
  cmd->add_flag("--header", opts->header, "first line: a // comment with the command that reproduces the file ($readmemh and bitsim check skip it; TestFloat's tools do not)");
  cmd->add_flag("--exhaustive", opts->exhaustive, "every operand tuple instead (at most 2^24 vectors, e.g. all pairs of an 8-bit format)");
  cmd->footer(
      "Output: one vector per line, OPERANDS RESULT FLAGS as upper-case hex tokens (ceil(width/4) digits; flags\n"
      "two digits: 10 invalid, 08 divide-by-zero, 04 overflow, 02 underflow, 01 inexact). First every tuple of\n"
      "corner operands (zeros, subnormal and normal boundaries, 1, largest finite, Inf, NaNs), then rounding ties\n"
      "(add, sub: exact ties; mul: products with +-1.5 and 0.75), then --count random tuples from --seed.\n"
      "$readmemh reads the file as one word per token; --header adds a // line naming the command.\n"
      "Exit status: 0 success; 2 bad options (a message naming the option).\n"
      "Example: bitsim vectors mul --format fp8_e4m3 --exhaustive > mul.hex");
  return [opts, cmd] { return run_vectors(*opts, *cmd); };
}

}  // namespace bitsim::cli
