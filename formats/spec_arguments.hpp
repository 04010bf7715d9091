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

namespace bitsim::formats {

// The text without spaces and tabs (spec strings allow and ignore them).
inline std::string strip_spaces(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\t') out += c;
  return out;
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
