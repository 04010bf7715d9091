#include "formats/random_words.hpp"
#include "formats/philox_block.hpp"
#include "io/excerpt.hpp"

#include "io/files.hpp"

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>

namespace bitsim::formats {

std::uint32_t PhiloxWords::word(std::uint64_t index) const {
  detail::PhiloxBlock b = detail::philox_block(index / 4, static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32));
  return b.w[index % 4];
}

void PhiloxWords::fill(std::uint64_t first, std::span<std::uint32_t> out) const {
  const auto k0 = static_cast<std::uint32_t>(seed_), k1 = static_cast<std::uint32_t>(seed_ >> 32);
  std::size_t j = 0;
  // Leading partial block.
  while (j < out.size() && (first + j) % 4 != 0) {
    out[j] = word(first + j);
    ++j;
  }
  // Whole blocks: the vector loop, compiled per SIMD target (philox_fill.cpp).
  const std::size_t whole = (out.size() - j) / 4;
  detail::philox_blocks((first + j) / 4, k0, k1, out.data() + j, whole);
  j += 4 * whole;
  for (; j < out.size(); ++j) out[j] = word(first + j);
}

bool parse_word(const std::string& raw, std::uint32_t& out) {
  std::size_t b = raw.find_first_not_of(" \t\r"), e = raw.find_last_not_of(" \t\r");
  if (b == std::string::npos) return false;
  std::string s = raw.substr(b, e - b + 1);
  int base = 10;
  std::size_t start = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    start = 2;
  }
  if (start == s.size()) return false;
  std::uint64_t v = 0;
  for (std::size_t i = start; i < s.size(); ++i) {
    char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
    if (v > 0xFFFFFFFFull) return false;
  }
  out = static_cast<std::uint32_t>(v);
  return true;
}

std::vector<std::uint32_t> read_words_file(const std::string& path) {
  std::string text;
  try {
    text = io::read_file(path);
  } catch (const io::FileError& e) {
    throw io::FileError(path, fmt::format("random-words file: {}", e.cause()));
  }
  std::istringstream in(text);
  std::vector<std::uint32_t> words;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::uint32_t w;
    if (!parse_word(line, w))
      throw bitsim::Error(fmt::format("{}:{}: not an unsigned 32-bit word (decimal or 0x-hex below 2^32): '{}'", path, line_no,
                                      io::excerpt(line)),
                          ErrorSite::in_file(path, static_cast<std::int64_t>(line_no)));
    words.push_back(w);
  }
  return words;
}

}  // namespace bitsim::formats
