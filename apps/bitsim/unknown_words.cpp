#include "apps/bitsim/unknown_words.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace bitsim::cli {

namespace {

// Levenshtein distance (two rows).
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// A negative number is a value ("--scale -1", an operand), not an option.
bool is_number(const std::string& word) {
  char* end = nullptr;
  std::strtod(word.c_str(), &end);
  return end != word.c_str() && *end == '\0';
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string best = closest_word(word, candidates);
  return best.empty() ? std::string() : fmt::format("; did you mean {}?", best);
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a; a = a->get_parent()) path = a->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

// Every spelling of every option of `app` ("--format", "-h", ...), and its subcommands' names.
std::vector<std::string> option_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app->get_options()) {
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app->get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  return names;
}

}  // namespace

std::string closest_word(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 3;  // at most 2 edits
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  if (!best.empty()) return best;
  for (const std::string& c : candidates)  // an abbreviation: "--exh" for "--exhaustive"
    if (word.size() >= 3 && c.rfind(word, 0) == 0) return c;
  return "";
}

std::optional<UnknownWord> find_unknown_word(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* cur = &app;
  const CLI::Option* expects_value = nullptr;  // the option just seen, when it takes a value
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") break;  // everything after is positional
    if (expects_value) {      // the value of the previous option, whatever it looks like
      expects_value = nullptr;
      continue;
    }
    if (word.size() > 1 && word[0] == '-' && !is_number(word)) {
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* opt = nullptr;
      for (const CLI::App* a = cur; a && !opt; a = a->get_parent()) opt = a->get_option_no_throw(name);
      if (!opt) {
        const std::string where = cur == &app ? "" : " for '" + command_path(cur) + "'";
        return UnknownWord{fmt::format("unknown option {}{}{}", name, where, did_you_mean(name, option_names(cur))),
                           command_path(cur)};
      }
      if (opt->get_type_size() != 0 && name == word && opt->get_expected_min() > 0) expects_value = opt;
      continue;
    }
    // A positional word: the next subcommand's name where one is expected, else an argument.
    const std::vector<std::string> subs = subcommand_names(cur);
    if (subs.empty()) continue;
    const auto all = cur->get_subcommands([](const CLI::App*) { return true; });
    const auto next = std::find_if(all.begin(), all.end(), [&](const CLI::App* s) { return s->check_name(word); });
    if (next != all.end()) {
      cur = *next;
      continue;
    }
    // Commands whose positional arguments come first (none today) would need this to be skipped.
    return UnknownWord{fmt::format("unknown command '{}'{}{}", word, cur == &app ? "" : " for '" + command_path(cur) + "'",
                                   did_you_mean(word, subs)),
                       command_path(cur)};
  }
  return std::nullopt;
}

}  // namespace bitsim::cli
