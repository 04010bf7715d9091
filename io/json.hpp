// JSON, the one way bitsim writes and reads it: nlohmann::json (Debian's nlohmann-json3-dev), with
// keys kept in the order they were set. Every JSON file or line bitsim prints goes through
// json_text, so strings are always escaped and numbers always valid JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

namespace bitsim::io {

using Json = nlohmann::ordered_json;

// A file's text: indented by two spaces, one key per line, ending in a newline.
inline std::string json_text(const Json& j) { return j.dump(2) + "\n"; }

// One line, no newline: {"a":1,"b":[1,2]} (nlohmann's compact form).
inline std::string json_line(const Json& j) { return j.dump(); }

// A double as JSON: the number (shortest text that reads back to it), or for a non-finite value the
// string "inf", "-inf" or "nan" (JSON has no such numbers; nlohmann would write null).
inline Json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

}  // namespace bitsim::io
