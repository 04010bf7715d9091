// Offending input quoted in an error message. Messages name what is wrong and quote it, but a 10 MB
// garbage line must not be echoed whole to a terminal or a log: at most `max` characters are kept,
// then " ... (N bytes in all)"; control and non-ASCII bytes are shown as \xNN so that binary input
// cannot corrupt the terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bitsim::io {

inline std::string excerpt(std::string_view text, std::size_t max = 80) {
  std::string out;
  std::size_t shown = 0;
  for (const char ch : text) {
    if (shown == max) break;
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      static const char* const digits = "0123456789abcdef";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    ++shown;
  }
  if (shown < text.size()) out += " ... (" + std::to_string(text.size()) + " bytes in all)";
  return out;
}

}  // namespace bitsim::io
