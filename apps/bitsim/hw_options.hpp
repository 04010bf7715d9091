// Options shared by `bitsim op`, `bitsim vectors` and `bitsim check`: the operation, its format(s) and
// the arithmetic options of hw/arith.hpp (docs/hardware.md).
#pragma once

#include "hw/vectors.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace bitsim::cli {

struct HwOptions {
  std::string op;
  std::string format;
  std::string to;
  std::string rounding = "rne";
  int sr_bits = 32;
  std::string tininess = "after";
  std::string nan = "canonical";
  bool daz = false;
  bool ftz = false;
  bool notexact = false;
  std::string seed_text = "0";
};

// Refuses a leading minus sign: CLI11 would otherwise wrap "-1" to 2^64-1 in an unsigned option.
inline CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& text) {
        return text.find('-') == std::string::npos ? std::string() : "must be a non-negative integer, got " + text;
      },
      "NON-NEGATIVE");
}

// Registers OP (positional) and the options above on `cmd`.
void add_hw_options(CLI::App& cmd, HwOptions& o);

// Builds the setup from the options of `cmd`; on an error returns false with `error` naming the option.
// Options that would have no effect are errors: --sr-bits without --rounding sr, and --seed without it
// unless `seed_chooses_operands` (bitsim vectors draws its random operands from the seed).
bool make_vector_setup(const HwOptions& o, const CLI::App& cmd, bool seed_chooses_operands, hw::VectorSetup& setup,
                       std::uint64_t& seed, std::string& error);

}  // namespace bitsim::cli
