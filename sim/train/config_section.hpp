// Internal to the config reader (config.cpp, config_schema.cpp): one TOML table being read.
#pragma once

#include "io/excerpt.hpp"
#include "sim/train/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

namespace bitsim::sim::train::detail {

// One TOML table being read: remembers which keys were read, so the rest can be reported as unknown.
class Section {
 public:
  Section(const toml::table* t, std::string path, const std::string& file) : t_(t), path_(std::move(path)), file_(file) {}

  const toml::node* get(const std::string& key) {
    used_.insert(key);
    return t_ ? t_->get(key) : nullptr;
  }
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  [[noreturn]] void fail(const toml::node* n, const std::string& key, const std::string& msg) const {
    const toml::node* where = n ? n : t_;
    const auto line = where ? where->source().begin.line : 0;
    // Values from --set have no line in the file; values from an `extends` base name their own file.
    const std::string& file = where && where->source().path ? *where->source().path : file_;
    if (line == 0)
      throw ConfigError(fmt::format("{}: key '{}' (from --set): {}", file_, key_path(key), msg), ErrorSite::in_file(file_, 0, key_path(key)));
    throw ConfigError(fmt::format("{}:{}: key '{}': {}", file, line, key_path(key), msg),
                      ErrorSite::in_file(file, static_cast<std::int64_t>(line), key_path(key)));
  }

  std::int64_t integer(const std::string& key, std::int64_t def, std::int64_t lo, std::int64_t hi) {
    const toml::node* n = get(key);
    if (!n) return def;
    // as_integer, not value<int64_t>: toml++ converts a float such as 1e29 to int64 before checking
    // its range, which is undefined behaviour (UBSan, found by fuzz_config).
    const toml::value<std::int64_t>* v = n->as_integer();
    if (!v) fail(n, key, "must be an integer");
    if (v->get() < lo || v->get() > hi) fail(n, key, fmt::format("{} is out of range [{}, {}]", v->get(), lo, hi));
    return v->get();
  }
  double real(const std::string& key, double def, double lo, double hi) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_number()) fail(n, key, "must be a number");
    const double v = *n->value<double>();
    if (!std::isfinite(v) || v < lo || v > hi) fail(n, key, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return v;
  }
  bool boolean(const std::string& key, bool def) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_boolean()) fail(n, key, "must be true or false");
    return *n->value<bool>();
  }
  std::string string(const std::string& key, const std::string& def, const std::vector<std::string>& allowed = {}) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_string()) fail(n, key, "must be a string");
    std::string v = *n->value<std::string>();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(n, key, fmt::format("'{}' is not one of: {}", io::excerpt(v), list));
    }
    return v;
  }
  Section table(const std::string& key) {
    const toml::node* n = get(key);
    if (n && !n->is_table()) fail(n, key, "must be a table");
    return Section(n ? n->as_table() : nullptr, key_path(key), file_);
  }
  // Reports the first key that was not read.
  void finish() const {
    if (!t_) return;
    for (auto&& [k, v] : *t_) {
      const std::string key = key_path(std::string(k.str()));
      const auto line = static_cast<std::int64_t>(v.source().begin.line);
      if (!used_.count(std::string(k.str())))
        throw ConfigError(line == 0 ? fmt::format("{}: unknown key '{}' (from --set)", file_, key)
                                    : fmt::format("{}:{}: unknown key '{}'", file_, line, key),
                          ErrorSite::in_file(file_, line, key));
    }
  }
  const toml::table* raw() const { return t_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

 private:
  const toml::table* t_;
  std::string path_;
  const std::string& file_;
  std::set<std::string> used_;
};

// An array of strings (absent: empty).
inline std::vector<std::string> string_list(Section& s, const std::string& key) {
  std::vector<std::string> out;
  const toml::node* n = s.get(key);
  if (!n) return out;
  const toml::array* a = n->as_array();
  if (!a) s.fail(n, key, "must be an array of strings");
  for (const auto& e : *a) {
    if (!e.is_string()) s.fail(&e, key, "must hold strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

}  // namespace bitsim::sim::train::detail
