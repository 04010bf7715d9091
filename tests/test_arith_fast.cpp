// The integer fast path of the golden arithmetic (hw/arith_fast.hpp, FastArith) against the rational
// golden path (arith_golden): identical code and flags for every operation, on every operand pair of
// small formats (every float format of the parameter grid below, fixed-point formats, every rounding
// mode incl. sr, tininess, NaN conventions, DAZ, FTZ), on every code of 8- and 16-bit sources of
// conversions, and on random and edge-case operands of 16-, 32- and 64-bit formats. arith() (the
// ArithResult API, which takes the fast path) is checked field by field, unrounded value included.
//
// CI runs a deterministic sample of each sweep (every format, option set and operation, a stride of the
// operand pairs); the tests tagged [arith_full] run the complete sweeps (`ctest -L full`, or
// `bitsim_tests "[arith_full]"`: hours on one core, the golden path being the slow side).
#include "hw/arith_fast.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cfenv>
#include <cstring>
#include <random>

using namespace bitsim::formats;

namespace {

struct FastAgreement {
  std::uint64_t cases = 0, mismatches = 0, golden_fallbacks = 0;

  void check(const FastArith& fast, const Format& f, const Format* to, const ArithOptions& o, std::uint64_t a,
             std::uint64_t b, std::uint64_t c, std::uint32_t word) {
    ++cases;
    const Op op = fast.op();
    std::vector<BigInt> operands{BigInt(a), BigInt(b), BigInt(c)};
    operands.resize(static_cast<std::size_t>(op_arity(op)));
    const ArithResult g = arith_golden(op, f, operands, o, word, to);
    FastResult z = fast(a, b, c, word);
    if (z.golden) {  // complete() answers these from the golden path
      ++golden_fallbacks;
      z = fast.complete(a, b, c, word);
    }
    if (BigInt(z.code) == g.code && z.flags == g.flags) return;
    if (++mismatches <= 8)
      UNSCOPED_INFO(fmt::format("{} {}{} [{}] {:#x} {:#x} {:#x} word {:#x}: fast {:#x} {:02x}, golden 0x{} {:02x}",
                                op_name(op), f.name(), to ? " -> " + to->name() : "", arith_options_to_string(o), a,
                                b, c, word, z.code, z.flags, g.code.str(0, std::ios_base::hex), g.flags));
  }
};

// The option sets every small format is swept under: each rounding mode, sr with 32 and with 3 bits,
// tininess before rounding, the x86 and Arm NaN conventions, DAZ and FTZ, and mixtures.
std::vector<ArithOptions> option_sets() {
  std::vector<ArithOptions> out;
  for (const char* text : {"", "rounding=rtz", "rounding=rup", "rounding=rdn", "rounding=rna", "rounding=sr",
                           "rounding=sr sr_bits=3", "tininess=before", "ftz", "daz rounding=rup",
                           "ftz tininess=before rounding=rna", "nan=x86", "nan=arm rounding=rdn",
                           "nan=x86 daz ftz rounding=sr sr_bits=7"})
    out.push_back(parse_arith_options(text));
  return out;
}

// Every float format of width up to max_width on the grid e + m = width - 1, special, subnormals and
// overflow (each valid combination), with the default bias and the bias moved by +2 and -3.
std::vector<Format> float_grid(int min_width, int max_width,
                               std::vector<const char*> specials = {"ieee", "fn", "fnuz", "none"}) {
  std::vector<Format> out;
  for (int w = min_width; w <= max_width; ++w)
    for (int e = 1; e <= w - 1; ++e) {
      const int m = w - 1 - e;
      for (const char* special : specials)
        for (const char* sub : {"yes", "no"})
          for (const char* overflow : {"inf", "nan", "saturate"})
            for (const char* bias : {"", "+2", "-3"}) {
              std::string spec = fmt::format("float(e={},m={},special={},subnormals={},overflow={})", e, m, special,
                                             sub, overflow);
              try {
                if (*bias) {
                  const std::int64_t default_bias = parse_format(spec).as<FloatFormat>().bias;
                  spec.insert(spec.size() - 1, fmt::format(",bias={}", default_bias + std::stoi(bias)));
                }
                out.push_back(parse_format(spec));
              } catch (const FormatError&) {
                // an invalid combination (inf without ieee, nan without a NaN code, no finite non-zero value)
              }
            }
    }
  return out;
}

// Fixed-point formats of width up to max_width: signed and unsigned, saturating and wrapping, with
// fraction bits below zero, zero, inside and beyond the width.
std::vector<Format> fixed_grid(int max_width) {
  std::vector<Format> out;
  for (int w = 2; w <= max_width; ++w)
    for (const char* sign : {"yes", "no"})
      for (const char* overflow : {"saturate", "wrap"})
        for (int f : {-2, 0, w / 2, w + 3}) {
          const int i = w - f - (sign[0] == 'y' ? 1 : 0);
          out.push_back(parse_format(fmt::format("fixed(i={},f={},signed={},overflow={})", i, f, sign, overflow)));
        }
  return out;
}

// The named small formats users work with.
std::vector<Format> named_small() {
  std::vector<Format> out;
  for (const char* name : {"fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e2m3", "fp6_e3m2",
                           "fp4_e2m1", "int8", "uint8", "float(e=4,m=3,subnormals=no)", "float(e=5,m=2,overflow=nan,special=fn)",
                           "float(e=4,m=0)", "float(e=3,m=2,bias=-3)", "fixed(i=3,f=4,overflow=wrap)"})
    out.push_back(parse_format(name));
  return out;
}

// Every operation on format f under each option set: the operand pairs (a, b) with
// (a * 131 + b + phase) % stride == 0, the phase moving with the operation and option set (stride 1:
// every pair); fma on the triples of those pairs with c stepping by fma_stride from a moving start.
void sweep_format(FastAgreement& agree, const Format& f, const std::vector<ArithOptions>& options, std::uint64_t stride,
                  std::uint64_t fma_stride, std::mt19937& words) {
  const std::uint64_t n = std::uint64_t(1) << f.width();
  std::uint64_t phase = 0;
  for (const ArithOptions& o : options)
    for (Op op : all_ops()) {
      if (op == Op::convert || !FastArith::supports(op, f, o)) continue;
      const FastArith fast(op, f, o);
      ++phase;
      const int arity = op_arity(op);
      for (std::uint64_t a = 0; a < n; ++a) {
        if (arity == 1) {
          agree.check(fast, f, nullptr, o, a, 0, 0, words());
          continue;
        }
        for (std::uint64_t b = 0; b < n; ++b) {
          if ((a * 131 + b + phase) % stride) continue;
          if (arity == 2) {
            agree.check(fast, f, nullptr, o, a, b, 0, words());
            continue;
          }
          for (std::uint64_t c = (a * 7 + b + phase) % fma_stride; c < n; c += fma_stride)
            agree.check(fast, f, nullptr, o, a, b, c, words());
        }
      }
    }
}

// The stride that leaves about `pairs` operand pairs of f per operation.
std::uint64_t stride_for(const Format& f, std::uint64_t pairs) {
  const std::uint64_t all = std::uint64_t(1) << (2 * f.width());
  return std::max<std::uint64_t>(1, all / pairs);
}

// Every code of `from` converted to each of `targets` under every option set (every stride-th code).
void sweep_conversions(FastAgreement& agree, const Format& from, const std::vector<Format>& targets,
                       const std::vector<ArithOptions>& options, std::uint64_t stride, std::mt19937& words) {
  const std::uint64_t n = std::uint64_t(1) << from.width();
  std::uint64_t phase = 0;
  for (const Format& to : targets)
    for (const ArithOptions& o : options) {
      const FastArith fast(Op::convert, from, o, &to);
      ++phase;
      for (std::uint64_t a = phase % stride; a < n; a += stride) agree.check(fast, from, &to, o, a, 0, 0, words());
    }
}

std::vector<Format> conversion_targets() {
  std::vector<Format> out = named_small();
  for (const char* name : {"fp16", "bf16", "fp32", "int16", "fixed(i=16,f=0,signed=no)", "int32", "fixed(i=10,f=20,signed=no)",
                           "fixed(i=4,f=-3,overflow=wrap)", "float(e=5,m=7,subnormals=no,special=fnuz)"})
    out.push_back(parse_format(name));
  return out;
}

// A code biased toward the edges: zeros, the largest and smallest magnitudes, subnormals, specials,
// all-ones and all-zeros fractions; a third of the draws are uniform.
std::uint64_t edge_code(std::mt19937_64& rng, const Format& f) {
  const int w = f.width();
  const std::uint64_t mask = w >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << w) - 1;
  const std::uint64_t sign = std::uint64_t(1) << (w - 1);
  const std::uint64_t r = rng();
  switch (r % 6) {
    case 0: return (rng() & 15) ^ ((r >> 8) & 1 ? sign : 0);                 // near +-0
    case 1: return ((mask >> 1) - (rng() & 15)) ^ ((r >> 8) & 1 ? sign : 0);  // near the top
    case 2:
      if (f.is<FloatFormat>()) {  // a chosen exponent with a fraction of zeros, ones or random bits
        const FloatFormat& x = f.as<FloatFormat>();
        const std::uint64_t field = (rng() >> 7) % (std::uint64_t(1) << x.e);
        const std::uint64_t ones = (std::uint64_t(1) << x.m) - 1;
        const std::uint64_t frac = (r >> 9) % 3 == 0 ? 0 : ((r >> 9) % 3 == 1 ? ones : rng() & ones);
        return ((r >> 8) & 1 ? sign : 0) | (field << x.m) | frac;
      }
      return rng() & mask;
    default: return rng() & mask;
  }
}

void random_operands(FastAgreement& agree, const std::vector<const char*>& names, const std::vector<ArithOptions>& options,
                     std::uint64_t per_op, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const char* name : names) {
    const Format f = parse_format(name);
    for (const ArithOptions& o : options)
      for (Op op : all_ops()) {
        if (op == Op::convert || !FastArith::supports(op, f, o)) continue;
        const FastArith fast(op, f, o);
        for (std::uint64_t i = 0; i < per_op; ++i) {
          const std::uint64_t a = edge_code(rng, f);
          std::uint64_t b = edge_code(rng, f);
          // A quarter of the pairs share a's exponent (+- a few units): cancellation and ties.
          if (i % 4 == 1) b = (a ^ (rng() & 0xFF)) ^ ((rng() & 1) << (f.width() - 1));
          agree.check(fast, f, nullptr, o, a, b, edge_code(rng, f), static_cast<std::uint32_t>(rng()));
        }
      }
  }
}

const std::vector<const char*> kWideFormats = {"fp16", "bf16", "fp32", "tf32", "fp64", "float(e=6,m=9,bias=40)",
                                               "float(e=8,m=55)", "float(e=3,m=60,subnormals=no)",
                                               "float(e=11,m=52,special=fn)", "int16", "int32", "fixed(i=31,f=32)",
                                               "fixed(i=40,f=23,signed=no)", "fixed(i=10,f=53,overflow=wrap)"};

}  // namespace

TEST_CASE("fast arith: the format grids hold what they claim", "[arith]") {
  const auto floats = float_grid(2, 8);
  // Spot checks that the grid really spans specials, flushing and saturation at each width.
  auto has = [&](const char* spec) {
    const Format f = parse_format(spec);
    return std::find(floats.begin(), floats.end(), f) != floats.end();
  };
  CHECK(has("fp8_e4m3"));
  CHECK(has("fp8_e5m2"));
  CHECK(has("fp8_e5m2fnuz"));
  CHECK(has("float(e=2,m=1,special=none,subnormals=no)"));
  CHECK(has("float(e=1,m=1)"));
  CHECK(has("float(e=3,m=4,special=fn,overflow=nan,bias=5)"));
  CHECK(floats.size() > 800);
  CHECK(fixed_grid(8).size() == 7 * 2 * 2 * 4);
}

TEST_CASE("fast arith: sampled operand pairs of every format up to 8 bits equal the golden path", "[arith][slow]") {
  FastAgreement agree;
  std::mt19937 words(21);
  const auto options = option_sets();
  // Each format of the grids under one option set (in rotation), about 60 operand pairs per operation
  // (one fma addend each); the named formats under every option set, about 150 pairs per operation.
  std::size_t rotation = 0;
  for (const auto& grid : {float_grid(2, 8), fixed_grid(8)})
    for (const Format& f : grid) {
      const std::uint64_t n = std::uint64_t(1) << f.width();
      sweep_format(agree, f, {options[rotation++ % options.size()]}, stride_for(f, 60), n, words);
    }
  for (const Format& f : named_small()) sweep_format(agree, f, options, stride_for(f, 150), std::uint64_t(1) << f.width(), words);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 1000000);
}

// The complete sweep in three test cases (three CTest entries under the label full, which ctest -j
// spreads over the cores): the grids and the named formats below 8 bits; the four OCP/fnuz fp8 formats;
// the other named 8-bit formats. The named 8-bit formats are most of the work (every pair under every
// option set).
TEST_CASE("fast arith: every operand pair of every format up to 6 bits equals the golden path", "[.][arith_full]") {
  FastAgreement agree;
  std::mt19937 words(22);
  const auto options = option_sets();
  // Every pair (fma: every triple up to 5 bits, every 16th addend at 6 bits) under every option set;
  // 7- and 8-bit formats of the grids on every 7th pair.
  for (const Format& f : float_grid(2, 5)) sweep_format(agree, f, options, 1, 1, words);
  for (const Format& f : float_grid(6, 6)) sweep_format(agree, f, options, 1, 16, words);
  for (const Format& f : float_grid(7, 8)) sweep_format(agree, f, {options[agree.cases % options.size()]}, 7, 256, words);
  for (const Format& f : fixed_grid(8)) sweep_format(agree, f, options, f.width() >= 7 ? 7 : 1, 16, words);
  for (const Format& f : named_small())
    if (f.width() < 8) sweep_format(agree, f, options, 1, 16, words);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
}

// The IEEE P3109 8-bit formats: the extended ones (special=inuz) and the finite ones (fnuz, bias 2^(e-1)).
std::vector<Format> p3109_8bit() {
  std::vector<Format> out;
  for (const char* domain : {"se", "sf"})
    for (int p = 1; p <= 7; ++p) out.push_back(parse_format(fmt::format("binary8p{}{}", p, domain)));
  return out;
}

// Every operand pair of the named 8-bit formats whose name starts with (or not) "fp8", under every
// option set (fma: every 256th addend).
void sweep_named_8bit(bool fp8, std::uint32_t seed) {
  FastAgreement agree;
  std::mt19937 words(seed);
  const auto options = option_sets();
  for (const Format& f : named_small())
    if (f.width() == 8 && f.name().starts_with("fp8") == fp8) sweep_format(agree, f, options, 1, 256, words);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 4000000);
}

TEST_CASE("fast arith: every operand pair of the named fp8 formats equals the golden path", "[.][arith_full]") {
  sweep_named_8bit(true, 27);
}

TEST_CASE("fast arith: every operand pair of the other named 8-bit formats equals the golden path", "[.][arith_full]") {
  sweep_named_8bit(false, 28);
}

TEST_CASE("fast arith: sampled operand pairs and conversions of the P3109 formats equal the golden path", "[arith][p3109][slow]") {
  FastAgreement agree;
  std::mt19937 words(29);
  const auto options = option_sets();
  // The grid with special=inuz (each format under one option set in rotation, about 30 pairs per
  // operation) and the 8-bit P3109 formats under every option set (about 80 pairs per operation).
  std::size_t rotation = 0;
  for (const Format& f : float_grid(2, 8, {"inuz"}))
    sweep_format(agree, f, {options[rotation++ % options.size()]}, stride_for(f, 30), std::uint64_t(1) << f.width(), words);
  for (const Format& f : p3109_8bit()) sweep_format(agree, f, options, stride_for(f, 80), 256, words);
  // Conversions from and to them: every 7th code.
  const auto targets = conversion_targets();
  const auto p3109 = p3109_8bit();
  for (const Format& from : p3109) sweep_conversions(agree, from, targets, {options[agree.cases % options.size()]}, 7, words);
  for (const Format& from : named_small()) sweep_conversions(agree, from, p3109, {options[agree.cases % options.size()]}, 7, words);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 300000);
}

TEST_CASE("fast arith: every operand pair and conversion of the P3109 formats equals the golden path", "[.][arith_full]") {
  FastAgreement agree;
  std::mt19937 words(30);
  const auto options = option_sets();
  // special=inuz: every pair up to 6 bits (fma: every 16th addend at 6 bits), 7 and 8 bits on every
  // 7th pair; the extended 8-bit formats: every pair under every option set (fma: every 256th addend).
  // The finite ones are fnuz formats (fp8_e4m3fnuz and fp8_e5m2fnuz are two of them).
  for (const Format& f : float_grid(2, 5, {"inuz"})) sweep_format(agree, f, options, 1, 1, words);
  for (const Format& f : float_grid(6, 6, {"inuz"})) sweep_format(agree, f, options, 1, 16, words);
  for (const Format& f : float_grid(7, 8, {"inuz"})) sweep_format(agree, f, {options[agree.cases % options.size()]}, 7, 256, words);
  for (const Format& f : p3109_8bit())
    if (f.as<FloatFormat>().special == Special::inuz) sweep_format(agree, f, options, 1, 256, words);
  const auto targets = conversion_targets();
  const auto p3109 = p3109_8bit();
  for (const Format& from : p3109) sweep_conversions(agree, from, targets, options, 1, words);
  for (const Format& from : named_small()) sweep_conversions(agree, from, p3109, options, 1, words);
  for (const char* name : {"fp16", "bf16", "fp32"}) sweep_conversions(agree, parse_format(name), p3109, options, 97, words);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
}

TEST_CASE("fast arith: conversions of every code of 8-bit and sampled codes of 16-bit sources equal the golden path", "[arith]") {
  FastAgreement agree;
  std::mt19937 words(23);
  const auto options = option_sets();
  const auto targets = conversion_targets();
  for (const Format& from : named_small()) sweep_conversions(agree, from, targets, {options[agree.cases % options.size()], options[0]}, 1, words);
  for (const char* name : {"fp16", "bf16", "int16", "fixed(i=3,f=12,signed=no)"})
    sweep_conversions(agree, parse_format(name), targets, {options[agree.cases % options.size()]}, 257, words);
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 100000);
}

TEST_CASE("fast arith: conversions of every code of 16-bit sources equal the golden path", "[.][arith_full]") {
  FastAgreement agree;
  std::mt19937 words(24);
  const auto options = option_sets();
  const auto targets = conversion_targets();
  for (const Format& from : named_small()) sweep_conversions(agree, from, targets, options, 1, words);
  for (const char* name : {"fp16", "bf16", "int16", "fixed(i=3,f=12,signed=no)"})
    sweep_conversions(agree, parse_format(name), targets, options, 1, words);
  CHECK(agree.mismatches == 0);
}

TEST_CASE("fast arith: random and edge-case operands of 16-, 32- and 64-bit formats equal the golden path", "[arith]") {
  FastAgreement agree;
  random_operands(agree, kWideFormats, option_sets(), 60, 25);
  INFO(agree.cases << " cases, " << agree.golden_fallbacks << " answered by the golden path");
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 100000);
}

TEST_CASE("fast arith: ten million random and edge-case operand sets of 16-, 32- and 64-bit formats equal the golden path",
          "[.][arith_full]") {
  FastAgreement agree;
  const auto options = option_sets();
  // 14 formats x 14 option sets x 14 operations x 3700 sets = 10.2 million.
  random_operands(agree, kWideFormats, options, 3700, 26);
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > 10000000);
}

TEST_CASE("fast arith: the batch entry answers elements beyond the fast path from the golden path", "[arith]") {
  // Wrapping a quotient far above a fixed format's range needs more bits than 128: per element, the
  // golden path answers, and the batch result is the golden one.
  const Format f = parse_format("fixed(i=10,f=53,overflow=wrap)");
  const ArithOptions o = parse_arith_options("rounding=sr");
  const FastArith fast(Op::div, f, o);
  const std::uint64_t a[2] = {0x6d3a53f910d66330, 0x100}, b[2] = {0xfffffffffffffffb, 0x80};
  const std::uint32_t words[2] = {0x93707ac0, 0};
  REQUIRE(fast(a[0], b[0], 0, words[0]).golden);
  REQUIRE_FALSE(fast(a[1], b[1], 0, words[1]).golden);
  std::uint64_t codes[2];
  std::uint8_t flags[2];
  fast.run(2, a, b, nullptr, words, codes, flags);
  for (int i = 0; i < 2; ++i) {
    const ArithResult g = arith_golden(Op::div, f, {BigInt(a[i]), BigInt(b[i])}, o, words[i]);
    CHECK(BigInt(codes[i]) == g.code);
    CHECK(flags[i] == g.flags);
  }
}

// ---- the narrow lane against the 128-bit lane -------------------------------------------------------------

namespace {

// A code of float format x biased toward what the narrow lane decides: every field but mostly the ends of
// the normal range (results near overflow and underflow) and the middle; fractions of zeros, ones, one
// bit, or random bits; one draw in eight any code at all. With `near`, the field lies within 2 of
// near_field and the fraction, half the time, within 8 of near_frac (cancellation, ties, carries).
std::uint64_t narrow_code(std::mt19937_64& rng, const FloatFormat& x, bool near = false, std::int64_t near_field = 0,
                          std::uint64_t near_frac = 0) {
  const std::uint64_t top = (std::uint64_t(1) << x.e) - 1, ones = (std::uint64_t(1) << x.m) - 1;
  const std::uint64_t sign = (rng() & 1) << (x.e + x.m);
  if (rng() % 8 == 0 && !near) return rng() & ((sign << 1) - 1 | ((std::uint64_t(1) << (x.e + x.m)) - 1));
  std::int64_t field;
  if (near) field = near_field + static_cast<std::int64_t>(rng() % 5) - 2;
  else switch (rng() % 4) {
      case 0: field = 1 + static_cast<std::int64_t>(rng() % 3); break;
      case 1: field = static_cast<std::int64_t>(top) - 1 - static_cast<std::int64_t>(rng() % 3); break;
      case 2: field = static_cast<std::int64_t>(top / 2) + static_cast<std::int64_t>(rng() % 7) - 3; break;
      default: field = static_cast<std::int64_t>(rng() % (top + 1)); break;
    }
  field = std::clamp<std::int64_t>(field, 0, static_cast<std::int64_t>(top));
  std::uint64_t frac;
  switch (rng() % 5) {
    case 0: frac = 0; break;
    case 1: frac = ones; break;
    case 2: frac = x.m ? std::uint64_t(1) << (rng() % x.m) : 0; break;
    default: frac = rng() & ones; break;
  }
  if (near && rng() % 2) frac = (near_frac + (rng() % 17) - 8) & ones;
  return sign | (static_cast<std::uint64_t>(field) << x.m) | frac;
}

struct LaneAgreement {
  std::uint64_t cases = 0, mismatches = 0;
  void check(const FastArith& fast, const std::string& what, std::uint64_t a, std::uint64_t b, std::uint64_t c,
             std::uint32_t word) {
    ++cases;
    const FastResult n = fast(a, b, c, word), w = fast.wide(a, b, c, word);
    if (n.code == w.code && n.flags == w.flags && n.golden == w.golden) return;
    if (++mismatches <= 8)
      UNSCOPED_INFO(fmt::format("{} {:#x} {:#x} {:#x} word {:#x}: narrow {:#x} {:02x}, wide {:#x} {:02x}", what, a, b, c,
                                word, n.code, n.flags, w.code, w.flags));
  }
};

// Every operation the narrow lane takes, on `per_op` operand sets per format and option set; conversions
// between the formats too.
void compare_lanes(LaneAgreement& agree, std::uint64_t per_op, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<const char*> names = {"fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp6_e2m3", "fp4_e2m1", "fp16", "bf16",
                                          "tf32", "fp32", "float(e=4,m=26)", "float(e=9,m=26,bias=300)",
                                          "float(e=5,m=10,special=fn,overflow=saturate)", "float(e=6,m=9,subnormals=no)",
                                          "float(e=7,m=12,special=none,overflow=saturate,bias=70)", "float(e=5,m=6,special=fnuz,overflow=nan)", "float(e=3,m=0)",
                                          "float(e=1,m=3,overflow=nan)", "float(e=1,m=4,special=none,overflow=saturate)",
                                          "float(e=2,m=1,special=fn)", "binary8p4se", "binary8p1se", "float(e=5,m=10,special=inuz)",
                                          "float(e=3,m=4,special=inuz,subnormals=no,overflow=saturate)"};
  const auto options = option_sets();
  int narrow_lanes = 0;
  for (const char* name : names) {
    const Format f = parse_format(name);
    const FloatFormat& x = f.as<FloatFormat>();
    for (const ArithOptions& o : options)
      for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::sqrt, Op::fma}) {
        const FastArith fast(op, f, o);
        if (!fast.narrow()) continue;
        ++narrow_lanes;
        const std::string what = fmt::format("{} {} [{}]", op_name(op), name, arith_options_to_string(o));
        for (std::uint64_t i = 0; i < per_op; ++i) {
          const std::uint64_t a = narrow_code(rng, x);
          const std::int64_t fa = static_cast<std::int64_t>((a >> x.m) & ((std::uint64_t(1) << x.e) - 1));
          const std::uint64_t b = i % 2 ? narrow_code(rng, x, true, fa, a) : narrow_code(rng, x);
          const std::int64_t fb = static_cast<std::int64_t>((b >> x.m) & ((std::uint64_t(1) << x.e) - 1));
          // fma: half the addends near the product's exponent.
          const std::uint64_t c = i % 2 ? narrow_code(rng, x, true, fa + fb - x.bias, rng()) : narrow_code(rng, x);
          agree.check(fast, what, a, b, c, static_cast<std::uint32_t>(rng()));
        }
      }
    for (const char* to_name : names) {
      const Format to = parse_format(to_name);
      for (const ArithOptions& o : {options[rng() % options.size()], options[0]}) {
        const FastArith fast(Op::convert, f, o, &to);
        if (!fast.narrow()) continue;
        const std::string what = fmt::format("convert {} -> {} [{}]", name, to_name, arith_options_to_string(o));
        for (std::uint64_t i = 0; i < per_op / 4; ++i)
          agree.check(fast, what, narrow_code(rng, x), 0, 0, static_cast<std::uint32_t>(rng()));
      }
    }
  }
  // The lane must have been taken: every operation under round-to-nearest on fp16 at least.
  CHECK(narrow_lanes > 400);
}

void check_lanes_agree(std::uint64_t per_op, std::uint64_t seed, std::uint64_t min_cases) {
  LaneAgreement agree;
  compare_lanes(agree, per_op, seed);
  INFO(agree.cases << " cases");
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases > min_cases);
}

}  // namespace

TEST_CASE("fast arith: the narrow lane takes the common operations of formats up to 26 fraction bits", "[arith]") {
  const ArithOptions rne;
  for (const char* name : {"fp8_e4m3", "fp16", "bf16", "fp32", "float(e=4,m=26)"})
    for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::sqrt, Op::fma}) {
      INFO(name << " " << op_name(op));
      CHECK(FastArith(op, parse_format(name), rne).narrow());
    }
  // Beyond it: 27 fraction bits, fixed point, comparisons, and sr too fine for a quotient's jammed bit.
  CHECK_FALSE(FastArith(Op::add, parse_format("float(e=4,m=27)"), rne).narrow());
  CHECK_FALSE(FastArith(Op::add, parse_format("int16"), rne).narrow());
  CHECK_FALSE(FastArith(Op::lt, parse_format("fp16"), rne).narrow());
  CHECK_FALSE(FastArith(Op::div, parse_format("fp32"), parse_arith_options("rounding=sr")).narrow());
  CHECK(FastArith(Op::div, parse_format("fp16"), parse_arith_options("rounding=sr")).narrow());
  const Format fp32 = parse_format("fp32"), fp64 = parse_format("fp64"), fp8 = parse_format("fp8_e5m2");
  CHECK(FastArith(Op::convert, fp64, rne, &fp32).narrow());
  CHECK_FALSE(FastArith(Op::convert, fp32, rne, &fp64).narrow());
  CHECK(FastArith(Op::convert, fp32, rne, &fp8).narrow());
}

TEST_CASE("fast arith: the narrow lane equals the 128-bit lane on three million operand sets", "[arith]") {
  check_lanes_agree(2500, 31, 2000000);
}

TEST_CASE("fast arith: the narrow lane equals the 128-bit lane on a hundred million operand sets", "[.][arith_full]") {
  check_lanes_agree(80000, 32, 60000000);
}

// ---- arith(): the ArithResult API on the fast path -------------------------------------------------------

namespace {

struct ResultAgreement {
  std::uint64_t cases = 0, mismatches = 0;
  void check(Op op, const Format& f, const std::vector<BigInt>& ops, const ArithOptions& o, std::uint32_t word) {
    ++cases;
    const ArithResult a = arith(op, f, ops, o, word);
    const ArithResult g = arith_golden(op, f, ops, o, word);
    const bool same_value = std::memcmp(&a.value, &g.value, sizeof a.value) == 0 || (std::isnan(a.value) && std::isnan(g.value));
    const bool same = a.code == g.code && a.flags == g.flags && same_value && a.kind == g.kind && a.negative == g.negative &&
                      a.width == g.width && a.exact_value == g.exact_value && a.unrounded.to_string() == g.unrounded.to_string();
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

}  // namespace

TEST_CASE("arith(): results on the fast path equal the golden path field by field", "[arith]") {
  ResultAgreement agree;
  std::mt19937_64 rng(12);
  const auto options = option_sets();
  for (const char* name : {"fp8_e4m3", "fp8_e5m2fnuz", "fp16", "bf16", "fp32", "fp64", "int8", "fixed(i=3,f=12,overflow=wrap)"}) {
    const Format f = parse_format(name);
    const std::uint64_t mask = f.width() >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << f.width()) - 1;
    for (const ArithOptions& o : options)
      for (int i = 0; i < 60; ++i)
        for (Op op : {Op::add, Op::sub, Op::mul, Op::div, Op::sqrt, Op::fma, Op::min, Op::lt}) {
          std::vector<BigInt> ops;
          for (int k = 0; k < op_arity(op); ++k) ops.push_back(BigInt(rng() & mask));
          agree.check(op, f, ops, o, static_cast<std::uint32_t>(rng()));
        }
  }
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases == 8ull * 14 * 60 * 8);
}

TEST_CASE("arith(): a changed floating-point environment does not change a result", "[arith]") {
  // A simulator hosting libbitsim_c may leave another rounding direction set; the integer path does
  // not depend on it (its one double estimate, in sqrt, is corrected exactly).
  ResultAgreement agree;
  std::mt19937_64 rng(13);
  const Format f = parse_format("fp16");
  const int saved = std::fegetround();
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    REQUIRE(std::fesetround(mode) == 0);
    for (int i = 0; i < 2000; ++i)
      for (Op op : {Op::add, Op::mul, Op::div, Op::sqrt}) {
        std::vector<BigInt> ops{BigInt(rng() & (op == Op::sqrt ? 0x7FFF : 0xFFFF)), BigInt(rng() & 0xFFFF)};
        ops.resize(static_cast<std::size_t>(op_arity(op)));
        agree.check(op, f, ops, {}, 0);
      }
  }
  std::fesetround(saved);
  CHECK(agree.mismatches == 0);
  CHECK(agree.cases == 3 * 2000 * 4);
}
