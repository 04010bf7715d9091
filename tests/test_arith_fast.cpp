// The fast path of the golden arithmetic (hw/arith_fast.hpp) against the rational golden path
// (arith_golden): identical code, flags, value, exact value and unrounded value, exhaustively over the
// operand pairs of small formats (every rounding mode, sr with random words, tininess, DAZ, FTZ) and on
// random operands of 16- and 32-bit formats.
#include "hw/arith.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cfenv>
#include <cstring>
#include <random>

using namespace bitsim::formats;

namespace {

struct Agreement {
  std::uint64_t cases = 0, mismatches = 0;
  void check(Op op, const Format& f, const std::vector<BigInt>& ops, const ArithOptions& o, std::uint32_t word) {
    ++cases;
    const ArithResult a = arith(op, f, ops, o, word);
    const ArithResult g = arith_golden(op, f, ops, o, word);
    const bool same_value = std::memcmp(&a.value, &g.value, sizeof a.value) == 0 || (std::isnan(a.value) && std::isnan(g.value));
    const bool same = a.code == g.code && a.flags == g.flags && same_value && a.kind == g.kind && a.negative == g.negative &&
                      a.exact_value == g.exact_value && a.unrounded.to_string() == g.unrounded.to_string();
    if (same) return;
    if (++mismatches <= 5) {
      std::string operands;
      for (const BigInt& c : ops) operands += " 0x" + c.str(0, std::ios_base::hex);
      UNSCOPED_INFO(fmt::format("{} {} [{}] word {:#x}{}: arith 0x{} {:02x} {} / golden 0x{} {:02x} {}", op_name(op),
                                f.name(), arith_options_to_string(o), word, operands, a.code.str(0, std::ios_base::hex),
                                a.flags, a.unrounded.to_string(), g.code.str(0, std::ios_base::hex), g.flags,
                                g.unrounded.to_string()));
    }
  }
};

std::vector<ArithOptions> option_sets() {
  std::vector<ArithOptions> out;
  for (const char* text : {"", "rounding=rtz", "rounding=rup", "rounding=rdn", "rounding=rna", "rounding=sr",
                           "rounding=sr sr_bits=3", "tininess=before", "ftz", "daz rounding=rup", "ftz tininess=before rounding=rna"})
    out.push_back(parse_arith_options(text));
  return out;
}

}  // namespace

TEST_CASE("arith fast path: every operand pair of small formats equals the golden path", "[arith][exhaustive]") {
  Agreement agree;
  std::mt19937 words(11);
  const auto options = option_sets();
  int index = 0;
  for (const char* name : {"fp8_e4m3", "fp8_e5m2", "fp8_e5m2fnuz", "float(e=4,m=3,subnormals=no)",
                           "float(e=5,m=2,overflow=nan,special=fn)", "fp6_e2m3", "fp4_e2m1", "float(e=4,m=0)",
                           "float(e=3,m=2,bias=-3)"}) {
    const Format f = parse_format(name);
    const std::uint64_t n = std::uint64_t(1) << f.width();
    // Formats up to 6 bits: every option set. 8-bit formats: two option sets each, in rotation, so that
    // together they cover ten of the eleven (the small formats take all); every pair for add and mul, every third b for sub and div.
    for (std::size_t k = 0; k < options.size(); ++k) {
      if (f.width() == 8 && k != (2 * index) % options.size() && k != (2 * index + 1) % options.size()) continue;
      for (Op op : {Op::add, Op::sub, Op::mul, Op::div}) {
        const std::uint64_t step = (f.width() == 8 && (op == Op::sub || op == Op::div)) ? 3 : 1;
        for (std::uint64_t a = 0; a < n; ++a)
          for (std::uint64_t b = a % step; b < n; b += step) agree.check(op, f, {BigInt(a), BigInt(b)}, options[k], words());
      }
      for (std::uint64_t a = 0; a < n; ++a) agree.check(Op::sqrt, f, {BigInt(a)}, options[k], words());
    }
    ++index;
  }
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 1500000);
}

TEST_CASE("arith fast path: random fp16, bf16, fp32 and tf32 operands equal the golden path", "[arith]") {
  Agreement agree;
  std::mt19937_64 rng(12);
  const auto options = option_sets();
  for (const char* name : {"fp16", "bf16", "fp32", "tf32", "float(e=6,m=9,bias=40)"}) {
    const Format f = parse_format(name);
    const std::uint64_t mask = (std::uint64_t(1) << f.width()) - 1;
    for (const ArithOptions& o : options)
      for (int i = 0; i < 400; ++i)
        for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::sqrt}) {
          std::vector<BigInt> ops{BigInt(rng() & mask)};
          if (op != Op::sqrt) {
            // Half the time b has a's exponent (+-1): cancellation and ties.
            std::uint64_t b = rng() & mask;
            if (i & 1) b = (b & ~(mask >> 1)) | ((static_cast<std::uint64_t>(ops[0]) & (mask >> 1)) ^ (rng() & 0xFF));
            ops.push_back(BigInt(b));
          }
          agree.check(op, f, ops, o, static_cast<std::uint32_t>(rng()));
        }
  }
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases == 5ull * 11 * 400 * 5);
}

TEST_CASE("arith fast path: a changed floating-point environment falls back to the golden path", "[arith]") {
  // A simulator hosting libbitsim_c may leave another rounding direction set; arith() must not notice.
  Agreement agree;
  std::mt19937_64 rng(13);
  const Format f = parse_format("fp16");
  const int saved = std::fegetround();
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    REQUIRE(std::fesetround(mode) == 0);
    for (int i = 0; i < 2000; ++i)
      for (Op op : {Op::add, Op::mul, Op::div})
        agree.check(op, f, {BigInt(rng() & 0xFFFF), BigInt(rng() & 0xFFFF)}, {}, 0);
  }
  std::fesetround(saved);
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases == 3 * 2000 * 3);
}
