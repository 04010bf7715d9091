// The root of every error bitsim reports for bad input or a request it cannot carry out: each
// library's error class (formats::FormatError, sim::train::ConfigError, io::FileError, ...) derives
// from bitsim::Error, so a caller catches one type, and reads where the problem is from structured
// fields instead of parsing the message. what() is the whole message, as printed to the user.
//
// Library messages name concepts (a matrix, a format, a config key), never command-line options: the
// command that reads an option is the one that names it (the `option` field is set by that command).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace bitsim {

// Where an error is: any of the fields may be empty.
struct ErrorSite {
  std::string file;                     // a file the error is in (a config, a data or vector file)
  std::int64_t line = 0;                // its 1-based line, 0 when not known
  std::string key;                      // a config key path, e.g. "model.layers[2]" or "formats.A.block"
  std::string option;                   // a command-line option, e.g. "--a-format" (set by the CLI only)
  std::optional<std::int64_t> element;  // the index of the offending element in the array being processed

  static ErrorSite in_file(std::string file, std::int64_t line = 0, std::string key = {}) {
    ErrorSite s;
    s.file = std::move(file);
    s.line = line;
    s.key = std::move(key);
    return s;
  }
  static ErrorSite at_key(std::string key) {
    ErrorSite s;
    s.key = std::move(key);
    return s;
  }
  static ErrorSite at_element(std::int64_t index) {
    ErrorSite s;
    s.element = index;
    return s;
  }
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorSite site = {}) : std::runtime_error(message), site_(std::move(site)) {}
  const ErrorSite& site() const { return site_; }

 private:
  ErrorSite site_;
};

}  // namespace bitsim
