// `bitsim formats list | describe SPEC`: formats.md section 4.
#include "apps/bitsim/commands.hpp"
#include "formats/format.hpp"
#include "formats/format_describe.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <string>

namespace bitsim::cli {

namespace {

using namespace bitsim::formats;

int run_describe(const std::string& spec) {
  Format format;
  try {
    format = parse_format(spec);
  } catch (const FormatError& e) {
    std::cerr << "bitsim formats describe: " << e.what() << "\n";
    return kExitBadInput;
  }
  std::cout << describe_format(format);
  return 0;
}

int run_list() {
  for (const auto& a : format_aliases()) fmt::print("{:<14}{}\n", a.alias, a.meaning);
  return 0;
}

}  // namespace

Runner add_formats_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("formats", "List the format aliases or describe one format");
  cmd->require_subcommand(1);
  CLI::App* list = cmd->add_subcommand("list", "Print every alias with its constructor form");
  CLI::App* describe = cmd->add_subcommand("describe", "Print the facts and, up to 8 bits, every code of a format");
  auto spec = std::make_shared<std::string>();
  describe->add_option("SPEC", *spec, "format name or constructor, e.g. fp8_e4m3")->required();
  const char* exit_status = "Exit status: 0 success; 2 an invalid format name or option (the message names the key).\n";
  cmd->footer(std::string("Format names and their rules: docs/spec/formats.md.\n") + exit_status +
              "Examples: bitsim formats list\n"
              "          bitsim formats describe 'float(e=5,m=2,overflow=saturate)'");
  list->footer(std::string(exit_status) + "Example: bitsim formats list");
  describe->footer(std::string("Width, bias, subnormals, specials, overflow, smallest subnormal and normal, largest finite,\n"
                               "epsilon, the Inf and NaN codes, and for formats up to 8 bits every code with its value.\n") +
                   exit_status + "Examples: bitsim formats describe fp8_e4m3\n          bitsim formats describe graham_L4");
  return [list, describe, spec] {
    if (list->parsed()) return run_list();
    if (describe->parsed()) return run_describe(*spec);
    return kExitBadInput;
  };
}

}  // namespace bitsim::cli
