// Parsing of numeric option values shared by the bitsim subcommands.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bitsim::cli {

// An unsigned 64-bit decimal (digits only, no sign, no spaces), as --seed takes it; empty when the text
// is not one or exceeds 2^64 - 1.
inline std::optional<std::uint64_t> parse_u64_decimal(std::string_view t) {
  if (t.empty() || t.size() > 20 || t.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : t) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (~std::uint64_t{0} - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace bitsim::cli
