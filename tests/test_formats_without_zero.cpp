// Floats without zero (float(..., signed=no, zero=no)) and the OCP MX scale type E8M0 (alias e8m0),
// written from the OCP Microscaling Formats (MX) v1.0 specification: 8 exponent bits, bias 127, no sign,
// no mantissa, no zero, no infinity; code c in 0 .. 254 is 2^(c-127), 0xFF is the NaN. The values of a
// format without zero come from the encoding rule alone, (1 + f/2^M) x 2^(k-B) for every exponent
// field k, 0 included; rounding follows docs/spec/formats.md section 2.2.
#include "compare.hpp"
#include "format_corpus.hpp"
#include "formats/format.hpp"
#include "formats/format_describe.hpp"
#include "formats/format_limits.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "hw/arith.hpp"
#include "sim/tensor/tensor.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::formats;

namespace {

// The value of code c of float(e=E, m=M, bias=B, special=S, signed=no, zero=no) by the encoding rule;
// NaN for the all-ones code (fnuz, inuz), +Inf for the one below it (inuz).
double value_without_zero(int e, int m, std::int64_t bias, Special special, std::uint64_t c) {
  const std::uint64_t all_ones = (std::uint64_t{1} << (e + m)) - 1;
  if (special != Special::none && c == all_ones) return std::numeric_limits<double>::quiet_NaN();
  if (special == Special::inuz && c == all_ones - 1) return HUGE_VAL;
  const std::uint64_t k = c >> m, f = c & ((std::uint64_t{1} << m) - 1);
  return std::ldexp(1.0 + std::ldexp(static_cast<double>(f), -m), static_cast<int>(static_cast<std::int64_t>(k) - bias));
}

}  // namespace

TEST_CASE("OCP MX E8M0: code c is 2^(c-127), 0xFF the NaN, no zero, no infinity, no sign", "[known][e8m0]") {
  const Format f = parse_format("e8m0");
  CHECK(f.to_string() == "float(e=8,m=0,bias=127,special=fnuz,signed=no,zero=no)");
  CHECK(f.width() == 8);
  CHECK(f.as<FloatFormat>().emin() == -127);
  CHECK_FALSE(f.has_arithmetic());
  const Quantizer q(f);
  std::uint64_t wrong = 0;
  for (std::uint64_t c = 0; c <= 254; ++c) {
    const double v = std::ldexp(1.0, static_cast<int>(c) - 127);
    wrong += q.decode(c) != v;
    const GoldenResult g = golden_decode(f, BigInt(c));
    wrong += !(g.kind == ValueKind::finite && !g.negative && *g.exact == pow2(static_cast<std::int64_t>(c) - 127));
    const Quantized back = q.quantize(v);
    wrong += *back.code != c || back.flags != 0;
  }
  CHECK(wrong == 0);
  CHECK(std::isnan(q.decode(0xFF)));
  CHECK(golden_decode(f, BigInt(0xFF)).kind == ValueKind::nan);
  CHECK(*q.quantize(std::nan("")).code == 0xFF);
  // The specification's limits: emin -127 (code 0), emax 127 (code 0xFE).
  const FormatFacts facts = golden_facts(f);
  CHECK(facts.largest_finite == pow2(127));
  CHECK(*facts.smallest_normal == pow2(-127));
  CHECK_FALSE(facts.smallest_subnormal.has_value());
  const FiniteLimits lim = finite_limits(f);
  CHECK(lim.max_finite == std::ldexp(1.0, 127));
  CHECK(lim.min_finite == std::ldexp(1.0, -127));
  const std::string d = describe_format(f);
  CHECK_THAT(d, Catch::Contains("unsigned, no zero"));
  CHECK_THAT(d, Catch::Contains("smallest normal     0x1p-127"));
  CHECK_THAT(d, Catch::Contains("largest finite      0x1p+127"));
  CHECK_THAT(d, Catch::Contains("+Inf                none"));
  CHECK_THAT(d, Catch::Contains("NaN                 0xff (the only one)"));
}

TEST_CASE("rounding into a format without zero: zero, tiny and negative inputs give code 0", "[e8m0][golden]") {
  const Format f = parse_format("e8m0");
  auto code = [&](double x, Rounding mode = Rounding::rne) { return *Quantizer(f, {mode, 32}).quantize(x).code; };
  auto flags = [&](double x, Rounding mode = Rounding::rne) { return Quantizer(f, {mode, 32}).quantize(x).flags; };
  // Ties go to the even code: 1.5 between 1 (0x7F) and 2 (0x80); 3 between 2 (0x80) and 4 (0x81);
  // 6 between 4 (0x81) and 8 (0x82).
  CHECK(code(1.5) == 0x80);
  CHECK(code(3.0) == 0x80);
  CHECK(code(6.0) == 0x82);
  CHECK(code(1.4) == 0x7F);
  CHECK(code(3.0, Rounding::rna) == 0x81);
  // Rounding down is the OCP MX scale rule, 2^floor(log2 x).
  CHECK(code(3.0, Rounding::rdn) == 0x80);
  CHECK(code(0.75, Rounding::rdn) == 0x7E);
  CHECK(code(3.0, Rounding::rup) == 0x81);
  // Zero (either sign) and anything below 2^-127 become 2^-127, code 0, with underflow and inexact, in
  // every mode; 2^-127 itself is exact.
  for (const Rounding mode : {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr}) {
    for (const double x : {0.0, -0.0, 1e-40, std::ldexp(1.0, -128), std::nextafter(std::ldexp(1.0, -127), 0.0)}) {
      INFO(x << " " << rounding_name(mode));
      const Quantized r = Quantizer(f, {mode, 32}).quantize(x, 0xFFFFFFFFu);
      CHECK(*r.code == 0x00);
      CHECK(r.value == std::ldexp(1.0, -127));
      CHECK(r.flags == (flag::underflow | flag::inexact));
    }
  }
  CHECK(flags(std::ldexp(1.0, -127)) == 0);
  // A negative input is invalid and gives the smallest value too; -Inf without inexact.
  CHECK(code(-1.0) == 0x00);
  CHECK(flags(-1.0) == (flag::invalid | flag::inexact));
  CHECK(code(-HUGE_VAL) == 0x00);
  CHECK(flags(-HUGE_VAL) == flag::invalid);
  // Overflow saturates at 2^127 (special=fnuz: no infinity); +Inf too, invalid.
  CHECK(code(std::ldexp(1.0, 128)) == 0xFE);
  CHECK(flags(std::ldexp(1.0, 128)) == (flag::overflow | flag::inexact));
  CHECK(code(std::ldexp(1.5, 127)) == 0xFE);  // the tie between 2^127 (0xFE, even) and 2^128: no overflow
  CHECK(code(HUGE_VAL) == 0xFE);
  CHECK(flags(HUGE_VAL) == flag::invalid);
  // A format with fraction bits: float(e=3,m=2,bias=-1,...): code c = (1 + f/4) x 2^(k+1), smallest 2.
  const Format m2 = parse_format("float(e=3,m=2,bias=-1,special=none,signed=no,zero=no)");
  CHECK(Quantizer(m2).decode(0) == 2.0);
  CHECK(Quantizer(m2).decode(0x1F) == 448.0);
  CHECK(*Quantizer(m2).quantize(2.2).code == 0x00);
  CHECK(*Quantizer(m2).quantize(2.3).code == 0x01);  // 2.25 and 2.5: nearer 2.5
  CHECK(*Quantizer(m2).quantize(1.0).code == 0x00);
  CHECK(Quantizer(m2).quantize(1.0).flags == (flag::underflow | flag::inexact));

  // Every path against the golden path, on adversarial inputs of both signs, every mode.
  std::vector<std::string> failures;
  std::size_t checked = 0;
  for (const char* spec : {"e8m0", "float(e=3,m=2,bias=-1,special=none,signed=no,zero=no)",
                           "float(e=4,m=1,special=inuz,overflow=satpropagate,signed=no,zero=no)",
                           "float(e=5,m=0,bias=40,special=inuz,signed=no,zero=no)", "float(e=2,m=5,bias=3,special=fnuz,overflow=nan,signed=no,zero=no)",
                           "float(e=9,m=4,bias=300,special=fnuz,signed=no,zero=no)"})
    checked += bitsim::test::compare_all_paths(parse_format(spec), 91, failures);
  for (const auto& s : failures) UNSCOPED_INFO(s);
  CHECK(checked > 10000);
  CHECK(failures.empty());
}

TEST_CASE("formats without zero: every code of widths 1 to 14 decodes by the encoding rule and encodes back", "[e8m0]") {
  int formats = 0;
  std::uint64_t wrong = 0;
  for (int e = 1; e <= 8; ++e)
    for (int m = 0; e + m <= 14; ++m)
      for (const Special special : {Special::fnuz, Special::inuz, Special::none})
        for (const std::int64_t bias : {std::int64_t{1} << (e - 1), std::int64_t{-3}}) {
          const std::string spec = fmt::format("float(e={},m={},bias={},special={},signed=no,zero=no)", e, m, bias, special_name(special));
          INFO(spec);
          if (e + m == 1 && special == Special::inuz) {  // its two codes are NaN and +Inf
            CHECK_THROWS_WITH(parse_format(spec), Catch::Contains("holds no finite non-zero value"));
            continue;
          }
          const Format f = parse_format(spec);
          CHECK(parse_format(f.to_string()) == f);
          ++formats;
          const Quantizer q(f);
          const std::uint64_t all_ones = (std::uint64_t{1} << (e + m)) - 1;
          for (std::uint64_t c = 0; c <= all_ones; ++c) {
            const double want = value_without_zero(e, m, bias, special, c);
            wrong += !bitsim::test::same_double(q.decode(c), want);
            wrong += !bitsim::test::same_double(golden_decode(f, BigInt(c)).value, want);
            if (std::isfinite(want)) wrong += *q.quantize(want).code != c;
          }
        }
  CHECK(wrong == 0);
  CHECK(formats > 200);
}

TEST_CASE("zero=no: the key, its constraints and its refusals", "[parse][e8m0]") {
  CHECK(parse_format("float(e=4,m=3,special=fnuz,signed=no,zero=no)").to_string() == "float(e=4,m=3,special=fnuz,signed=no,zero=no)");
  CHECK(parse_format("float(e=4,m=3,special=fnuz,signed=no,zero=no,subnormals=no)").to_string() ==
        "float(e=4,m=3,special=fnuz,signed=no,zero=no)");
  CHECK(parse_format("float(e=4,m=3,special=fnuz,signed=no,zero=yes)") == parse_format("float(e=4,m=3,special=fnuz,signed=no)"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fnuz,zero=no)"), Catch::Contains("zero=no needs signed=no"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fnuz,signed=no,zero=no,subnormals=yes)"), Catch::Contains("no subnormals"));
  CHECK_THROWS_WITH(parse_format("float(e=4,m=3,special=fnuz,signed=no,zero=maybe)"), Catch::Contains("expected yes or no"));
  // One value and a NaN is a format; a NaN and +Inf is not (nor, with a zero, is it).
  CHECK(Quantizer(parse_format("float(e=1,m=0,bias=0,special=fnuz,signed=no,zero=no)")).decode(0) == 1.0);
  CHECK_THROWS_WITH(parse_format("float(e=1,m=0,special=inuz,signed=no)"), Catch::Contains("holds no finite non-zero value"));
  // A storage format: arithmetic refuses it by name.
  const std::vector<BigInt> ops = {BigInt(0x7F), BigInt(0x7F)};
  CHECK_THROWS_WITH(arith(Op::mul, parse_format("e8m0"), ops, parse_arith_options("")), Catch::Contains("e8m0"));
}

TEST_CASE("the MX policy's E8M0 scales are amax / 2^emax_elem rounded down into e8m0 (golden path)", "[e8m0][mx][tensor]") {
  // Blocks of 32 whose amax spans E8M0's range and beyond, zero blocks included; the scale code must be
  // the golden rounding of the exact amax / 2^emax_elem.
  const Format e8m0 = parse_format("e8m0");
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0.5, 1.0);
  for (const char* policy : {"mxfp8_e4m3", "mxfp4_e2m1", "mxint8", "mx(element=fp8_e5m2,block=32)"}) {
    INFO(policy);
    const int blocks = 64;
    std::vector<double> x(static_cast<std::size_t>(32 * blocks), 0.0);
    for (int b = 1; b < blocks; ++b) {
      const int exponent = -160 + 5 * b;  // from far below 2^-127 to beyond 2^127 (float range)
      for (int i = 0; i < 32; ++i)
        x[static_cast<std::size_t>(32 * b + i)] = static_cast<float>(std::ldexp(unit(rng), std::min(exponent, 127)) * (i % 2 ? -1 : 1));
    }
    bitsim::sim::Tensor t(bitsim::sim::Shape({1, 32 * blocks}), bitsim::sim::parse_policy(policy), RoundingSpec{}, 0);
    t.quantize(x);
    const int emax = bitsim::sim::parse_policy(policy).emax_elem();
    REQUIRE(t.e8m0_scales().size() == static_cast<std::size_t>(blocks));
    std::uint64_t wrong = 0;
    for (int b = 0; b < blocks; ++b) {
      double amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(32 * b + i)]));
      const ExactInput ratio = ExactInput::from_rational(rational_from_double(amax) * pow2(-emax));
      const GoldenResult g = golden_quantize_exact(e8m0, ratio, {Rounding::rdn, 32});
      wrong += BigInt(t.e8m0_scales()[static_cast<std::size_t>(b)]) != *g.code;
    }
    CHECK(wrong == 0);
  }
}
