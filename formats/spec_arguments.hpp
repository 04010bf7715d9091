// The key=value arguments of one constructor call in a spec string ("float(e=4,m=3)", and the tensor
// policies built on it): each key may be taken at most once, and the errors name the constructor and
// the key, in the message and in the error's site().key. `Error` is the exception type thrown
// (FormatError, or a subclass for other spec families).
#pragma once

#include "formats/exact_number.hpp"
#include "io/error.hpp"
#include "io/excerpt.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitsim::formats {

// The text without spaces and tabs (spec strings allow and ignore them).
inline std::string strip_spaces(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\t') out += c;
  return out;
}

// The key=value pairs of a constructor's body ("e=4,m=3" of float(e=4,m=3)); commas inside nested
// parentheses belong to the value ("format=float(e=4,m=3),scale=pow2"). Throws Error for a malformed or
// repeated argument, an empty value and unbalanced parentheses, naming the constructor.
template <class Error> std::map<std::string, std::string> split_spec_arguments(const std::string& name, const std::string& body) {
  std::map<std::string, std::string> kv;
  if (body.empty()) return kv;
  std::vector<std::string> items(1);
  int depth = 0;
  for (char c : body) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) throw Error(fmt::format("{}: unbalanced ')'", name));
    if (c == ',' && depth == 0) items.emplace_back();
    else items.back() += c;
  }
  if (depth != 0) throw Error(fmt::format("{}: unbalanced '('", name));
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || item.find('(') < eq)
      throw Error(fmt::format("{}: malformed argument '{}' (expected key=value)", name, io::excerpt(item)));
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (value.empty()) throw Error(fmt::format("{}: key '{}' has no value", name, io::excerpt(key)));
    if (!kv.emplace(key, value).second) throw Error(fmt::format("{}: repeated key '{}'", name, io::excerpt(key)));
  }
  return kv;
}

template <class Error> class SpecArguments {
 public:
  SpecArguments(std::string constructor, std::map<std::string, std::string> kv)
      : ctor_(std::move(constructor)), kv_(std::move(kv)) {}

  std::optional<std::string> take(const std::string& key) {
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    std::string v = it->second;
    kv_.erase(it);
    return v;
  }
  std::string require(const std::string& key) {
    auto v = take(key);
    if (!v) throw Error(fmt::format("{}: missing required key '{}'", ctor_, key), ErrorSite::at_key(key));
    return *v;
  }
  std::int64_t integer(const std::string& key, const std::string& text) const {
    auto v = parse_int64(text);
    if (!v) throw Error(fmt::format("{}: key '{}': '{}' is not an integer", ctor_, key, io::excerpt(text)), ErrorSite::at_key(key));
    return *v;
  }
  Rational decimal(const std::string& key, const std::string& text) const {
    auto v = parse_exact_decimal(text);
    if (!v)
      throw Error(fmt::format("{}: key '{}': '{}' is not a decimal number", ctor_, key, io::excerpt(text)), ErrorSite::at_key(key));
    return *v;
  }
  bool yes_no(const std::string& key, const std::string& text) const {
    if (text == "yes") return true;
    if (text == "no") return false;
    throw Error(fmt::format("{}: key '{}': expected yes or no, got '{}'", ctor_, key, io::excerpt(text)), ErrorSite::at_key(key));
  }
  [[noreturn]] void out_of_range(const std::string& key, const std::string& why) const {
    throw Error(fmt::format("{}: key '{}' out of range: {}", ctor_, key, why), ErrorSite::at_key(key));
  }
  // Throws for the first key nobody took.
  void finish() const {
    if (!kv_.empty())
      throw Error(fmt::format("{}: unknown key '{}'", ctor_, io::excerpt(kv_.begin()->first)), ErrorSite::at_key(kv_.begin()->first));
  }
  const std::string& ctor() const { return ctor_; }

 private:
  std::string ctor_;
  std::map<std::string, std::string> kv_;
};

}  // namespace bitsim::formats
