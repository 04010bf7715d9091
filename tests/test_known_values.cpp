// Known values from the OCP 8-bit floating point specification (OFP8, v1.0) and IEEE 754-2019,
// written here from those documents, not from bitsim's output.
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace bitsim::formats;

namespace {

std::uint64_t code_of(const std::string& spec, double x, Rounding mode = Rounding::rne) {
  return *Quantizer(parse_format(spec), {mode, 32}).quantize(x).code;
}
double value_of(const std::string& spec, double x, Rounding mode = Rounding::rne) {
  return Quantizer(parse_format(spec), {mode, 32}).quantize(x).value;
}
double decode(const std::string& spec, std::uint64_t code) { return Quantizer(parse_format(spec)).decode(code); }

}  // namespace

TEST_CASE("OCP FP8 E4M3: largest 448 = S.1111.110, smallest subnormal 2^-9, NaN S.1111.111, no Inf", "[known]") {
  CHECK(decode("fp8_e4m3", 0x7E) == 448.0);
  CHECK(decode("fp8_e4m3", 0xFE) == -448.0);
  CHECK(decode("fp8_e4m3", 0x01) == std::ldexp(1.0, -9));
  CHECK(decode("fp8_e4m3", 0x08) == std::ldexp(1.0, -6));  // smallest normal
  CHECK(decode("fp8_e4m3", 0x07) == 0.875 * std::ldexp(1.0, -6));  // largest subnormal
  CHECK(std::isnan(decode("fp8_e4m3", 0x7F)));
  CHECK(std::isnan(decode("fp8_e4m3", 0xFF)));
  CHECK(decode("fp8_e4m3", 0x78) == 256.0);  // S.1111.000 is a normal number in E4M3
  CHECK(code_of("fp8_e4m3", 1.0) == 0x38);   // exponent 7 = bias
  CHECK(code_of("fp8_e4m3", 1e6) == 0x7E);   // saturates (OCP conversion with saturation)
  CHECK(code_of("fp8_e4m3", -HUGE_VAL) == 0xFE);
  CHECK(code_of("fp8_e4m3", std::nan("")) == 0x7F);
}

TEST_CASE("OCP FP8 E5M2: largest 57344, smallest subnormal 2^-16, Inf S.11111.00, NaN S.11111.{01,10,11}", "[known]") {
  CHECK(decode("fp8_e5m2", 0x7B) == 57344.0);
  CHECK(decode("fp8_e5m2", 0x01) == std::ldexp(1.0, -16));
  CHECK(decode("fp8_e5m2", 0x04) == std::ldexp(1.0, -14));
  CHECK(decode("fp8_e5m2", 0x7C) == HUGE_VAL);
  CHECK(decode("fp8_e5m2", 0xFC) == -HUGE_VAL);
  for (std::uint64_t c : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) CHECK(std::isnan(decode("fp8_e5m2", c)));
  // 61440 is the midpoint of 57344 and the next grid value 65536: ties to even (index 0x7C is even)
  // goes beyond the largest finite value: overflow to Inf under the IEEE-like policy.
  CHECK(code_of("fp8_e5m2", 61440.0) == 0x7C);
  CHECK(code_of("fp8_e5m2", 61439.0) == 0x7B);
  CHECK(code_of("fp8_e5m2", 1e9, Rounding::rtz) == 0x7B);  // toward zero: largest finite
  CHECK(code_of("fp8_e5m2", -1e9, Rounding::rup) == 0xFB);
  CHECK(code_of("fp8_e5m2", -1e9, Rounding::rdn) == 0xFC);
}

TEST_CASE("IEEE binary16: largest 65504, smallest subnormal 2^-24, Inf 0x7C00, qNaN 0x7E00", "[known]") {
  CHECK(decode("fp16", 0x7BFF) == 65504.0);
  CHECK(decode("fp16", 0x0001) == std::ldexp(1.0, -24));
  CHECK(decode("fp16", 0x0400) == std::ldexp(1.0, -14));
  CHECK(decode("fp16", 0x7C00) == HUGE_VAL);
  CHECK(code_of("fp16", std::nan("")) == 0x7E00);
  CHECK(code_of("fp16", 65519.0) == 0x7BFF);  // below the midpoint 65520
  CHECK(code_of("fp16", 65520.0) == 0x7C00);  // the midpoint overflows (ties to even)
  CHECK(code_of("fp16", 1.0 + std::ldexp(1.0, -11)) == 0x3C00);  // tie: to even
  CHECK(code_of("fp16", 1.0 + 3 * std::ldexp(1.0, -11)) == 0x3C02);
  CHECK(code_of("fp16", std::ldexp(1.0, -25)) == 0x0000);  // tie between 0 and 2^-24: even is 0
  CHECK(code_of("fp16", std::ldexp(1.0, -25), Rounding::rna) == 0x0001);
  CHECK(code_of("fp16", -0.0) == 0x8000);
}

TEST_CASE("bfloat16: largest (2-2^-7)*2^127, smallest subnormal 2^-133", "[known]") {
  CHECK(decode("bf16", 0x7F7F) == (2.0 - std::ldexp(1.0, -7)) * std::ldexp(1.0, 127));
  CHECK(decode("bf16", 0x0001) == std::ldexp(1.0, -133));
  CHECK(decode("bf16", 0x7F80) == HUGE_VAL);
  CHECK(code_of("bf16", 1.0) == 0x3F80);
  CHECK(code_of("bf16", 3.140625) == 0x4049);  // exactly representable pi approximation
  CHECK(value_of("bf16", 1.0 + std::ldexp(1.0, -8)) == 1.0);  // tie to even
  CHECK(value_of("bf16", 1.0 + 3 * std::ldexp(1.0, -8)) == 1.0 + std::ldexp(1.0, -6));
}

TEST_CASE("fnuz, none and fixed-point conventions", "[known]") {
  // E4M3FNUZ: bias 8, largest 240, 0x80 is the only NaN, -0 becomes +0.
  CHECK(decode("fp8_e4m3fnuz", 0x7F) == 240.0);
  CHECK(std::isnan(decode("fp8_e4m3fnuz", 0x80)));
  CHECK(code_of("fp8_e4m3fnuz", -0.0) == 0x00);
  CHECK(code_of("fp8_e4m3fnuz", -1e-9) == 0x00);
  // OCP FP6/FP4: largest 28 (E3M2), 7.5 (E2M3), 6 (E2M1).
  CHECK(decode("fp6_e3m2", 0x1F) == 28.0);
  CHECK(decode("fp6_e2m3", 0x1F) == 7.5);
  CHECK(decode("fp4_e2m1", 0x7) == 6.0);
  CHECK(decode("fp4_e2m1", 0x1) == 0.5);
  CHECK_THROWS_AS(Quantizer(parse_format("fp4_e2m1")).quantize(std::nan("")), QuantizeError);
  // int8: ties to even, saturation, wrap.
  CHECK(value_of("int8", 2.5) == 2.0);
  CHECK(value_of("int8", -2.5) == -2.0);
  CHECK(value_of("int8", 2.5, Rounding::rna) == 3.0);
  CHECK(value_of("int8", -2.5, Rounding::rna) == -3.0);
  CHECK(value_of("int8", -2.5, Rounding::rdn) == -3.0);
  CHECK(value_of("int8", 200.0) == 127.0);
  CHECK(code_of("int8", -200.0) == 0x80);
  CHECK(value_of("fixed(i=7,f=0,overflow=wrap)", 130.0) == -126.0);
  CHECK(value_of("uint8", -3.0) == 0.0);
  CHECK(value_of("fixed(i=3,f=4)", 0.03125) == 0.0);  // 0.5 ulp tie: even code 0
  CHECK(value_of("fixed(i=3,f=4)", 0.09375) == 0.125);  // 1.5 ulp tie: even code 2
  CHECK(code_of("fixed(i=3,f=4)", -0.0625) == 0xFF);
}

TEST_CASE("Graham formats from Table 1 of the paper", "[known]") {
  // L4 values are +-2^n, n in [-3, 4], n = floor(log2(1.36|x|)).
  CHECK(value_of("graham_L4", 1.0) == 1.0);
  CHECK(value_of("graham_L4", 1.5) == 2.0);   // 1.36*1.5 = 2.04 -> n = 1
  CHECK(value_of("graham_L4", 1.47) == 1.0);  // 1.36*1.47 = 1.9992 -> n = 0
  CHECK(value_of("graham_L4", 1000.0) == 16.0);
  CHECK(value_of("graham_L4", 1e-9) == 0.125);
  CHECK(value_of("graham_L4", -3.0) == -4.0);
  // The boundary 1/1.36 = 25/34: floor(log2(1.36 x)) = 0 exactly from x = 25/34 on.
  const double b = 25.0 / 34.0;  // the nearest double; above or below the exact 25/34?
  const bool double_above = rational_from_double(b) >= Rational(25, 34);
  CHECK(value_of("graham_L4", b) == (double_above ? 1.0 : 0.5));
  // U4: (1/2 + clamp(floor(2x), -8, 7)) / 2
  CHECK(value_of("graham_U4", 0.0) == 0.25);
  CHECK(value_of("graham_U4", -0.1) == -0.25);
  CHECK(value_of("graham_U4", 100.0) == 3.75);
  CHECK(value_of("graham_U4", -100.0) == -3.75);
  // U5 values (n + 1/2)/3 are not dyadic: printed as the nearest double.
  CHECK(value_of("graham_U5", 0.1) == 0.5 / 3.0);
  // L2: +-2^(1/2 + n), n in [-1, 0]: +-1/sqrt(2), +-sqrt(2)
  CHECK(value_of("graham_L2", 1.0) == std::sqrt(2.0));
  CHECK(value_of("graham_L2", 0.1) == std::sqrt(0.5));
  // O4: a^(n + 1/2) - 1 with a = 1.29; n = floor(log_1.29(1 + |x|))
  CHECK(std::fabs(value_of("graham_O4", 0.1) - static_cast<double>(std::sqrt(1.29L) - 1.0L)) < 1e-16);
  CHECK(value_of("graham_O4", 1e9) == value_of("graham_O4", 5.0));
  CHECK_FALSE(Quantizer(parse_format("graham_O4")).quantize(0.0).code.has_value());
}
