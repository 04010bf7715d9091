// Shared options of the hardware-verification commands (hw_options.hpp).
#include "apps/bitsim/hw_options.hpp"

#include "apps/bitsim/cli_numbers.hpp"

#include <fmt/format.h>

namespace bitsim::cli {

using namespace bitsim::formats;

void add_hw_options(CLI::App& cmd, HwOptions& o) {
  cmd.add_option("OP", o.op,
                 "add sub mul div fma sqrt min max eq lt le eq_signaling lt_quiet le_quiet convert")
      ->required();
  cmd.add_option("--format", o.format, "the operands' format (and the result's, except for convert)")->required();
  cmd.add_option("--to", o.to, "convert: the result's format");
  cmd.add_option("--rounding", o.rounding, "rne (default), rna, rtz, rup, rdn or sr");
  cmd.add_option("--sr-bits", o.sr_bits, "random bits R used by sr, 1..32 (default 32)");
  cmd.add_option("--seed", o.seed_text, "seed: Philox4x32-10 sr words, and the random operands of vectors (default 0)");
  cmd.add_option("--tininess", o.tininess, "underflow detected 'after' rounding (default; x86, RISC-V) or 'before' (Arm)");
  cmd.add_option("--nan", o.nan, "NaN results: canonical (default; = riscv), x86 or arm");
  cmd.add_flag("--daz", o.daz, "denormals-are-zero: subnormal operands read as zero");
  cmd.add_flag("--ftz", o.ftz, "flush-to-zero: subnormal results become zero (underflow + inexact)");
  cmd.add_flag("--notexact", o.notexact,
               "convert to a fixed-point/integer format without raising inexact (TestFloat's -notexact; "
               "the default raises it, as -exact)");
}

bool make_vector_setup(const HwOptions& o, const CLI::App& cmd, bool seed_chooses_operands, hw::VectorSetup& setup,
                       std::uint64_t& seed, std::string& error) {
  const auto op = parse_op(o.op);
  if (!op) {
    error = fmt::format("OP '{}': unknown operation (expected add, sub, mul, div, fma, sqrt, min, max, eq, lt, le, "
                        "eq_signaling, lt_quiet, le_quiet or convert)",
                        o.op);
    return false;
  }
  setup.op = *op;
  try {
    setup.format = parse_format(o.format);
  } catch (const FormatError& e) {
    error = fmt::format("--format: {}", e.what());
    return false;
  }
  if (!setup.format.is_binary()) {
    error = fmt::format("--format {}: Graham formats have no arithmetic; use a float or fixed format", o.format);
    return false;
  }
  if (*op == Op::convert) {
    if (o.to.empty()) {
      error = "convert needs --to FORMAT (the result's format)";
      return false;
    }
    try {
      setup.to = parse_format(o.to);
    } catch (const FormatError& e) {
      error = fmt::format("--to: {}", e.what());
      return false;
    }
    if (!setup.to->is_binary()) {
      error = fmt::format("--to {}: Graham formats have no arithmetic; use a float or fixed format", o.to);
      return false;
    }
  } else if (!o.to.empty()) {
    error = fmt::format("--to is for convert only (OP is {})", o.op);
    return false;
  }
  const auto mode = parse_rounding(o.rounding);
  if (!mode) {
    error = fmt::format("--rounding '{}': expected rne, rna, rtz, rup, rdn or sr", o.rounding);
    return false;
  }
  if (*mode != Rounding::sr && cmd.count("--sr-bits")) {
    error = fmt::format("--sr-bits applies only to --rounding sr (the rounding is {})", o.rounding);
    return false;
  }
  if (*mode != Rounding::sr && cmd.count("--seed") && !seed_chooses_operands) {
    error = fmt::format("--seed applies only to --rounding sr, whose random words it seeds (the rounding is {})", o.rounding);
    return false;
  }
  if (o.sr_bits < 1 || o.sr_bits > 32) {
    error = fmt::format("--sr-bits {}: must be 1..32", o.sr_bits);
    return false;
  }
  const auto tininess = parse_tininess(o.tininess);
  if (!tininess) {
    error = fmt::format("--tininess '{}': expected after or before", o.tininess);
    return false;
  }
  const auto nan = parse_nan_policy(o.nan);
  if (!nan) {
    error = fmt::format("--nan '{}': expected canonical, riscv, x86 or arm", o.nan);
    return false;
  }
  const auto s = parse_u64_decimal(o.seed_text);
  if (!s) {
    error = fmt::format("--seed '{}': expected an unsigned 64-bit decimal", o.seed_text);
    return false;
  }
  seed = *s;
  setup.options.rounding = {*mode, o.sr_bits};
  setup.options.tininess = *tininess;
  setup.options.nan = *nan;
  setup.options.daz = o.daz;
  setup.options.ftz = o.ftz;
  setup.options.notexact = o.notexact;
  if (o.notexact && !(setup.op == Op::convert && setup.to && setup.to->is<FixedFormat>())) {
    error = "--notexact applies only to convert with a fixed-point (integer) --to format";
    return false;
  }
  return true;
}

}  // namespace bitsim::cli
