// Unknown subcommands and options, found before CLI11 parses the command line, so that the message
// names the word and suggests the closest known one ("bitsim quantise": did you mean quantize?), and
// a misspelt option is not reported as a missing required one ("--fromat" rather than "--format is
// required").
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace bitsim::cli {

struct UnknownWord {
  std::string message;  // "unknown option --fromat for 'bitsim quantize'; did you mean --format?"
  std::string command;  // the command it was given to, whose --help lists the known words: "bitsim quantize"
};

// The first unknown subcommand or option of argv, or nullopt when every word is known.
std::optional<UnknownWord> find_unknown_word(const CLI::App& app, int argc, const char* const* argv);

// The closest of `candidates` to `word` (edit distance at most 2, or a prefix), or "".
std::string closest_word(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace bitsim::cli
