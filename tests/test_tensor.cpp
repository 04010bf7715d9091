// The tensor (sim/tensor/tensor.hpp): element-wise quantization equals the formats library; per-tensor and
// per-channel scales; gemmlowp affine quantization with an exact zero; OCP MX blocks checked against
// values derived by hand from the spec rules (the derivations are in the comments); stochastic
// rounding reproducibility; views; errors.
#include "format_corpus.hpp"

#include "formats/quantizer.hpp"
#include "sim/tensor/tensor.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::sim;
using bitsim::formats::parse_format;
using bitsim::formats::PhiloxWords;
using bitsim::formats::Quantizer;
using bitsim::formats::QuantizeError;
using bitsim::formats::Rounding;
using bitsim::formats::RoundingSpec;
using bitsim::test::same_double;

namespace {

Tensor make(const std::string& policy, Shape shape, RoundingSpec r = {}, std::uint64_t seed = 0) {
  return Tensor(shape, parse_policy(policy), r, seed);
}

std::vector<double> decoded(const Tensor& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  t.decode(v);
  return v;
}

std::vector<std::uint64_t> all_codes(const Tensor& t) {
  std::vector<std::uint64_t> v(static_cast<std::size_t>(t.numel()));
  t.codes().unpack(0, v);
  return v;
}

// A 32-element row: the given leading values, then zeros.
std::vector<double> block_of(std::initializer_list<double> head, std::size_t n = 32) {
  std::vector<double> v(head);
  v.resize(n, 0.0);
  return v;
}

}  // namespace

// ---- element-wise ------------------------------------------------------------------------------

TEST_CASE("tensor: element-wise decode(quantize(x)) equals the formats library, every small format and mode",
          "[tensor]") {
  std::mt19937 rng(11);
  std::size_t compared = 0;
  for (const auto& spec : bitsim::test::small_formats()) {
    const auto f = parse_format(spec);
    const auto inputs = bitsim::test::adversarial_inputs(f, 64, f.width() > 10 ? 97 : 1, 5);
    for (Rounding mode : bitsim::test::modes_for(f)) {
      const RoundingSpec rs{mode, mode == Rounding::sr ? 13 : 32};
      const Quantizer q(f, rs);
      // Only inputs the format takes (no NaN into a format without NaN, no Inf into a wrapping one).
      std::vector<double> x;
      for (double v : inputs) {
        try {
          (void)q.quantize(v, 0);
          x.push_back(v);
        } catch (const QuantizeError&) {
        }
      }
      const std::uint64_t seed = 99, offset = 1000;
      Tensor t(Shape{static_cast<std::int64_t>(x.size())}, TensorPolicy::elementwise(f), rs, seed);
      t.quantize(std::span<const double>(x), offset);
      const auto got = decoded(t);
      const PhiloxWords words(seed);
      for (std::size_t i = 0; i < x.size(); ++i, ++compared) {
        const auto want = q.quantize(x[i], words.word(offset + i));
        INFO(spec << " mode " << rounding_name(mode) << " x=" << x[i]);
        REQUIRE(same_double(got[i], want.value));
        REQUIRE(t.code(static_cast<std::int64_t>(i)) == want.code);
        REQUIRE(same_double(t.value(static_cast<std::int64_t>(i)), want.value));
      }
      // Float output: the value as float (exact for formats that fit float).
      if (q.supports_float_arrays()) {
        std::vector<float> gf(x.size());
        t.decode(gf);
        for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(same_double(gf[i], static_cast<float>(got[i])));
      }
    }
  }
  CHECK(compared > 100000);
}

TEST_CASE("tensor: element-wise float and double inputs, wide formats", "[tensor]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 30.0f);
  std::vector<float> xf(1000);
  for (auto& v : xf) v = nd(rng);
  const std::vector<double> xd(xf.begin(), xf.end());
  for (const char* spec : {"bf16", "fp16", "fp32", "int16", "int32", "fixed(i=20,f=20)", "float(e=11,m=52)", "tf32"}) {
    INFO(spec);
    Tensor a = make(spec, {10, 100}), b = make(spec, {10, 100});
    a.quantize(std::span<const float>(xf));
    b.quantize(std::span<const double>(xd));
    CHECK(all_codes(a) == all_codes(b));
    const Quantizer q(parse_format(spec));
    const auto got = decoded(a);
    for (std::size_t i = 0; i < xd.size(); ++i) REQUIRE(same_double(got[i], q.quantize(xd[i]).value));
  }
  Tensor t = make("fp32", {4});
  CHECK(t.codes().width() == 32);
  CHECK(t.codes().words32().size() == 4);
  CHECK(make("fp64", {3}).codes().words64().size() == 3);
  CHECK(make("bf16", {3}).codes().words16().size() == 3);
}

TEST_CASE("tensor: packed storage of narrow formats", "[tensor]") {
  // fp4_e2m1: 1.0 = 0b0010, -3.0 = 0b1101, 6.0 = 0b0111; two codes per byte, the first in the low nibble.
  Tensor t = make("fp4_e2m1", {3});
  const std::vector<float> x = {1.0f, -3.0f, 6.0f};
  t.quantize(std::span<const float>(x));
  REQUIRE(t.codes().bytes().size() == 2);
  CHECK(t.codes().bytes()[0] == 0xD2);
  CHECK(t.codes().bytes()[1] == 0x07);
  // fp6_e3m2 (bias 3): 1.0 = 0b0_011_00 = 0x0C, 0.5 = 0x08, 28 = 0x1F, -1.0 = 0x2C: four codes in three bytes.
  Tensor s = make("fp6_e3m2", {4});
  const std::vector<float> y = {1.0f, 0.5f, 28.0f, -1.0f};
  s.quantize(std::span<const float>(y));
  REQUIRE(s.codes().bytes().size() == 3);
  CHECK(s.codes().bytes()[0] == (0x0C | (0x08 & 3) << 6));
  CHECK(s.codes().bytes()[1] == ((0x08 >> 2) | (0x1F & 0xF) << 4));
  CHECK(s.codes().bytes()[2] == ((0x1F >> 4) | 0x2C << 2));
}

TEST_CASE("tensor: Graham formats keep zeros without code", "[tensor]") {
  for (const char* spec : {"graham_L4", "graham_O4"}) {
    INFO(spec);
    Tensor t = make(spec, {4});
    const std::vector<double> x = {0.0, -0.0, 1.5, -2.0};
    t.quantize(std::span<const double>(x));
    const Quantizer q(parse_format(spec));
    CHECK_FALSE(t.code(0).has_value());
    CHECK_FALSE(t.code(1).has_value());
    CHECK(t.code(2) == q.quantize(1.5).code);
    CHECK(t.code(3) == q.quantize(-2.0).code);
    const auto v = decoded(t);
    CHECK(same_double(v[0], 0.0));
    CHECK(same_double(v[1], -0.0));
    CHECK(same_double(v[2], q.quantize(1.5).value));
    REQUIRE(t.zero_mask() != nullptr);
    CHECK(t.zero_mask()->get(0) == 1);
    CHECK(t.zero_mask()->get(2) == 0);
    t.set_code(0, *q.quantize(1.5).code);
    CHECK(t.code(0) == q.quantize(1.5).code);
  }
  CHECK(make("graham_U4", {2}).zero_mask() == nullptr);
  CHECK_THROWS_AS(make("graham_L4", {2}, {Rounding::sr, 32}), QuantizeError);
}

// ---- stochastic rounding -----------------------------------------------------------------------

TEST_CASE("tensor: stochastic rounding is reproducible from seed and offset", "[tensor]") {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> ud(-4, 4);
  std::vector<double> x(3000);
  for (auto& v : x) v = ud(rng);
  for (const char* spec : {"fp8_e4m3", "int8", "scaled(format=int8,scale=pow2)", "scaled(format=fp8_e5m2,scale=real,axis=1)",
                           "affine(bits=4)", "mxfp4_e2m1", "mxint8"}) {
    INFO(spec);
    const RoundingSpec sr{Rounding::sr, 32};
    Tensor a = make(spec, {30, 100}, sr, 42), b = make(spec, {30, 100}, sr, 42);
    a.quantize(std::span<const double>(x), 7);
    b.quantize(std::span<const double>(x), 7);
    CHECK(all_codes(a) == all_codes(b));
    // Different offsets, or seeds, give different words and so different codes somewhere.
    b.quantize(std::span<const double>(x), 8);
    CHECK(all_codes(a) != all_codes(b));
    Tensor c = make(spec, {30, 100}, sr, 43);
    c.quantize(std::span<const double>(x), 7);
    CHECK(all_codes(a) != all_codes(c));
    // The Philox words are element (offset + i) of the seed: the explicit-words call agrees.
    std::vector<std::uint32_t> w(x.size());
    PhiloxWords(42).fill(7, w);
    Tensor d = make(spec, {30, 100}, sr, 0);
    d.quantize(std::span<const double>(x), std::span<const std::uint32_t>(w));
    CHECK(all_codes(a) == all_codes(d));
  }
  // With rne the words are ignored.
  Tensor e = make("fp8_e4m3", {3000}), f = make("fp8_e4m3", {3000});
  e.quantize(std::span<const double>(x), 1);
  f.quantize(std::span<const double>(x), 2);
  CHECK(all_codes(e) == all_codes(f));
}

TEST_CASE("tensor: element-wise sr with offsets equals the library's Philox call", "[tensor]") {
  std::vector<float> x(777);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i) - 3.0f;
  const RoundingSpec sr{Rounding::sr, 9};
  const Quantizer q(parse_format("bf16"), sr);
  for (std::uint64_t offset : {0ULL, 3ULL, 1ULL << 40}) {
    Tensor t = make("bf16", {777}, sr, 5);
    std::vector<float> got(x.size()), want(x.size());
    t.quantize_decode(std::span<const float>(x), std::span<float>(got), offset);
    q.quantize(std::span<const float>(x), std::span<float>(want), PhiloxWords(5), offset);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(same_double(got[i], want[i]));
  }
}

// ---- per-tensor and per-channel scales ---------------------------------------------------------

TEST_CASE("tensor: scaled pow2, per tensor (hand-derived)", "[tensor]") {
  // int8, L = 127. amax = 300: 300/127 = 2.36, ceil(log2) = 2, s = 4. 300/4 = 75; -1.3/4 = -0.325 -> 0;
  // 2/4 = 0.5 -> tie, even -> 0; 6/4 = 1.5 -> 2; -298/4 = -74.5 -> -74 (even).
  Tensor t = make("scaled(format=int8,scale=pow2)", {5});
  t.quantize(std::vector<double>{300, -1.3, 2, 6, -298});
  CHECK(t.num_groups() == 1);
  CHECK(t.group_scale(0).exponent == 2);
  CHECK(t.group_scale(0).scale == 4.0);
  CHECK(t.code(0) == 75);
  CHECK(t.code(1) == 0);
  CHECK(t.code(2) == 0);
  CHECK(t.code(3) == 2);
  CHECK(t.code(4) == 0xB6);  // -74 in two's complement
  CHECK(decoded(t) == std::vector<double>{300, 0, 0, 8, -296});

  // Boundaries of ceil: amax = 127 exactly gives k = 0; 127.5 gives k = 1; 0.5 gives k = -7
  // (127 * 2^-8 = 0.496 < 0.5 <= 127 * 2^-7 = 0.992); 0.496 gives -8 (127 * 2^-8 = 0.49609375);
  // 2^-1074 gives -1080 (log2(2^-1074 / 127) = -1080.99).
  auto k_of = [](double amax) {
    Tensor u = make("scaled(format=int8,scale=pow2)", {2});
    u.quantize(std::vector<double>{-amax, 0.0});
    return u.group_scale(0).exponent;
  };
  CHECK(k_of(127) == 0);
  CHECK(k_of(127.5) == 1);
  CHECK(k_of(0.5) == -7);
  CHECK(k_of(0.496) == -8);
  CHECK(k_of(0x1p-1074) == -1080);
  // The largest double: log2(DBL_MAX / 127) = 1024 - 6.99 = 1017.01 -> k = 1018. The element becomes
  // DBL_MAX / 2^1018 = 63.99.. -> 64, whose value 64 * 2^1018 = 2^1024 lies beyond the doubles: it
  // decodes to +inf (the product rounded once).
  CHECK(k_of(0x1.fffffffffffffp+1023) == 1018);
  {
    Tensor u = make("scaled(format=int8,scale=pow2)", {1});
    u.quantize(std::vector<double>{0x1.fffffffffffffp+1023});
    CHECK(u.code(0) == 64);
    CHECK(u.value(0) == std::numeric_limits<double>::infinity());
  }
  {
    // 2^-1074 / 2^-1080 = 64 exactly; decoding gives 2^-1074 back.
    Tensor u = make("scaled(format=int8,scale=pow2)", {1});
    u.quantize(std::vector<double>{-0x1p-1074});
    CHECK(u.code(0) == static_cast<std::uint64_t>(256 - 64));
    CHECK(u.value(0) == -0x1p-1074);
  }
  // All zeros: k = 0.
  CHECK(k_of(0) == 0);

  // fp8_e4m3, L = 448: amax 1000 -> 1000/448 = 2.23 -> k = 2, s = 4; 1000/4 = 250 lies between 240
  // and 256 above their midpoint 248 -> 256, code 0b0_1111_000 = 0x78, value 1024.
  Tensor e = make("scaled(format=fp8_e4m3,scale=pow2)", {2});
  e.quantize(std::vector<float>{1000.0f, -1.0f});
  CHECK(e.group_scale(0).exponent == 2);
  CHECK(e.code(0) == 0x78);
  CHECK(e.value(0) == 1024);
  CHECK(e.code(1) == 0xA8);  // -0.25 = -(2^-2): field 5 -> 0b1_0101_000
  CHECK(e.value(1) == -1);
}

TEST_CASE("tensor: scaled pow2 rounds tiny quotients from the exact value", "[tensor]") {
  // fp8_e4m3, amax = 2^1000: k = ceil(1000 - log2(448)) = ceil(991.19) = 992. The element 2^-1074
  // divided by 2^992 is 2^-2066, far below the doubles: its code comes from the exact quotient.
  // rup gives the smallest subnormal 2^-9 (code 0x01), rne gives 0, rdn of -2^-1074 gives 0x81.
  const std::vector<double> x = {0x1p1000, 0x1p-1074, -0x1p-1074};
  Tensor up = make("scaled(format=fp8_e4m3,scale=pow2)", {3}, {Rounding::rup, 32});
  up.quantize(x);
  CHECK(up.group_scale(0).exponent == 992);
  CHECK(up.code(0) == 0x78);  // 2^1000 / 2^992 = 256
  CHECK(up.code(1) == 0x01);
  CHECK(up.code(2) == 0x80);  // rup of a tiny negative: -0
  CHECK(up.value(1) == 0x1p983);
  Tensor dn = make("scaled(format=fp8_e4m3,scale=pow2)", {3}, {Rounding::rdn, 32});
  dn.quantize(x);
  CHECK(dn.code(1) == 0x00);
  CHECK(dn.code(2) == 0x81);
  Tensor ne = make("scaled(format=fp8_e4m3,scale=pow2)", {3});
  ne.quantize(x);
  CHECK(ne.code(1) == 0x00);
  CHECK(ne.code(2) == 0x80);
}

TEST_CASE("tensor: scaled pow2 per channel (hand-derived)", "[tensor]") {
  // Shape [2,3,4], axis 1: flat index n*12 + c*4 + w.
  //  channel 0: amax 1 -> ceil(log2(1/127)) = ceil(-6.99) = -6, s = 1/64.
  //  channel 1: amax 100 -> ceil(log2(100/127)) = ceil(-0.34) = 0, s = 1.
  //  channel 2: all zero -> k = 0.
  std::vector<double> x(24, 0.0);
  const double c0n0[] = {1, 0.5, -0.25, 0.01}, c0n1[] = {0.1, 0, 0, 0};
  const double c1n0[] = {100, -50.5, 3, 0}, c1n1[] = {1.5, 0, 0, -99.4};
  for (int w = 0; w < 4; ++w) {
    x[static_cast<std::size_t>(0 * 12 + 0 * 4 + w)] = c0n0[w];
    x[static_cast<std::size_t>(1 * 12 + 0 * 4 + w)] = c0n1[w];
    x[static_cast<std::size_t>(0 * 12 + 1 * 4 + w)] = c1n0[w];
    x[static_cast<std::size_t>(1 * 12 + 1 * 4 + w)] = c1n1[w];
  }
  Tensor t = make("scaled(format=int8,scale=pow2,axis=1)", {2, 3, 4});
  t.quantize(x);
  REQUIRE(t.num_groups() == 3);
  CHECK(t.group_scale(0).exponent == -6);
  CHECK(t.group_scale(1).exponent == 0);
  CHECK(t.group_scale(2).exponent == 0);
  CHECK(t.group_of(t.shape().offset({1, 2, 3})) == 2);
  // channel 0: 1*64 = 64, 0.5*64 = 32, -0.25*64 = -16 (0xF0), 0.01*64 = 0.64 -> 1, 0.1*64 = 6.4 -> 6
  CHECK(t.code({0, 0, 0}) == 64);
  CHECK(t.code({0, 0, 1}) == 32);
  CHECK(t.code({0, 0, 2}) == 0xF0);
  CHECK(t.code({0, 0, 3}) == 1);
  CHECK(t.code({1, 0, 0}) == 6);
  CHECK(t.value({0, 0, 3}) == 0.015625);
  CHECK(t.value({1, 0, 0}) == 0.09375);
  // channel 1: -50.5 -> tie, even -> -50 (0xCE); 1.5 -> 2; -99.4 -> -99 (0x9D)
  CHECK(t.code({0, 1, 0}) == 100);
  CHECK(t.code({0, 1, 1}) == 0xCE);
  CHECK(t.code({1, 1, 0}) == 2);
  CHECK(t.code({1, 1, 3}) == 0x9D);
  CHECK(t.value({0, 1, 1}) == -50);
}

TEST_CASE("tensor: scaled per-axis scales match an independent reference, every axis", "[tensor]") {
  std::mt19937 rng(9);
  std::lognormal_distribution<double> mag(0.0, 3.0);
  std::bernoulli_distribution neg(0.5), zero(0.1);
  const Shape shape{3, 4, 5, 6};
  std::vector<double> x(static_cast<std::size_t>(shape.numel()));
  for (auto& v : x) v = zero(rng) ? 0.0 : (neg(rng) ? -1 : 1) * mag(rng);
  for (const char* fmt_name : {"int8", "fp8_e4m3", "fp6_e2m3", "fixed(i=3,f=4,signed=no)"}) {
    const Quantizer q(parse_format(fmt_name));
    const Quantizer q_sr(parse_format(fmt_name), {Rounding::sr, 20});
    const PhiloxWords words(77);
    const double L = fmt_name == std::string("int8") ? 127 : fmt_name == std::string("fp8_e4m3") ? 448
                     : fmt_name == std::string("fp6_e2m3") ? 7.5 : 7.9375;  // unsigned 7 bits: 127/16
    for (int axis = -1; axis < 4; ++axis) {
      for (const char* rule : {"pow2", "real"}) {
        const std::string spec = std::string("scaled(format=") + fmt_name + ",scale=" + rule +
                                 (axis >= 0 ? ",axis=" + std::to_string(axis) : "") + ")";
        INFO(spec);
        Tensor t(shape, parse_policy(spec));
        t.quantize(x);
        const auto got = decoded(t);
        Tensor t_sr(shape, parse_policy(spec), {Rounding::sr, 20}, 77);
        t_sr.quantize(x, 5000);
        const std::int64_t groups = axis < 0 ? 1 : shape[axis];
        REQUIRE(t.num_groups() == groups);
        for (std::int64_t g = 0; g < groups; ++g) {
          double amax = 0;
          for (std::int64_t i = 0; i < shape.numel(); ++i) {
            const std::int64_t gi = axis < 0 ? 0 : shape.unravel(i)[static_cast<std::size_t>(axis)];
            if (gi == g) amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(i)]));
          }
          // Reference scale: pow2 by search with exact ldexp; real by one IEEE division.
          double s;
          if (rule == std::string("pow2")) {
            int k = -1100;
            while (L * std::ldexp(1.0, k) < amax) ++k;
            REQUIRE(t.group_scale(g).exponent == k);
            s = std::ldexp(1.0, k);
          } else {
            s = amax / L;
            REQUIRE(t.group_scale(g).scale == s);
          }
          for (std::int64_t i = 0; i < shape.numel(); ++i) {
            const std::int64_t gi = axis < 0 ? 0 : shape.unravel(i)[static_cast<std::size_t>(axis)];
            if (gi != g) continue;
            const auto want = q.quantize(x[static_cast<std::size_t>(i)] / s);
            REQUIRE(t.code(i) == want.code);
            const auto want_sr = q_sr.quantize(x[static_cast<std::size_t>(i)] / s, words.word(5000 + static_cast<std::uint64_t>(i)));
            REQUIRE(t_sr.code(i) == want_sr.code);
            REQUIRE(same_double(got[static_cast<std::size_t>(i)], want.value * s));
          }
        }
      }
    }
  }
}

TEST_CASE("tensor: scaled real (formula check)", "[tensor]") {
  // int8: s = 300/127 as a double; 100/s = 42.33 -> 42; -7/s = -2.96 -> -3; 300/s = 127.
  Tensor t = make("scaled(format=int8,scale=real)", {4});
  t.quantize(std::vector<double>{300, 100, -7, 0});
  const double s = 300.0 / 127.0;
  CHECK(t.group_scale(0).scale == s);
  CHECK(t.code(0) == 127);
  CHECK(t.code(1) == 42);
  CHECK(t.code(2) == 0xFD);
  CHECK(t.code(3) == 0);
  CHECK(t.value(1) == 42 * s);
  CHECK(t.value(2) == -3 * s);
  CHECK(t.value(3) == 0);
  Tensor z = make("scaled(format=int8,scale=real)", {2});
  z.quantize(std::vector<double>{0, -0.0});
  CHECK(z.group_scale(0).scale == 1);
}

TEST_CASE("tensor: scaled policies take amax over finite elements - NaN and Inf follow the format", "[tensor]") {
  // fp8_e4m3 (no Inf, saturates): amax over finite values = 2 -> k = ceil(log2(2/448)) = ceil(-7.8) = -7.
  //   2 * 2^7 = 256 -> 0x78; +Inf saturates to 448 (0x7E, value 3.5); NaN -> 0x7F; -Inf -> 0xFE.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Tensor t = make("scaled(format=fp8_e4m3,scale=pow2)", {4});
  t.quantize(std::vector<double>{inf, 2, nan, -inf});
  CHECK(t.group_scale(0).exponent == -7);
  CHECK(t.code(0) == 0x7E);
  CHECK(t.code(1) == 0x78);
  CHECK(t.code(2) == 0x7F);
  CHECK(t.code(3) == 0xFE);
  CHECK(t.value(0) == 3.5);
  CHECK(std::isnan(t.value(2)));
  // fp16 keeps infinities (overflow=inf).
  Tensor h = make("scaled(format=fp16,scale=pow2)", {2});
  h.quantize(std::vector<double>{-inf, 1});
  CHECK(h.value(0) == -inf);
  // int8 has no NaN: an error naming the element.
  Tensor i = make("scaled(format=int8,scale=real)", {3});
  CHECK_THROWS_WITH(i.quantize(std::vector<double>{1, nan, 2}), Catch::Matchers::Contains("element 1 [1]"));
  // affine: the range ignores infinities, which saturate to the ends of the code range.
  Tensor a = make("affine(bits=8)", {3});
  a.quantize(std::vector<double>{-1, 2, inf});
  CHECK(a.group_scale(0).zero_point == 85);
  CHECK(a.code(2) == 255);
}

// ---- affine ------------------------------------------------------------------------------------

TEST_CASE("tensor: affine, gemmlowp's example and the exact zero (hand-derived)", "[tensor]") {
  // Range [-1, 2], 8 bits unsigned: s = RN(3/255) = RN(1/85); z = 0 + round(1/s) = 85 (1/s is within
  // 2^-46 of 85). x = -1 -> -1/s = -85 -> q = 0; 2 -> 170 -> q = 255; 0 -> q = 85, value exactly 0;
  // 0.4 -> 34 -> q = 119.
  Tensor t = make("affine(bits=8)", {5});
  t.quantize(std::vector<double>{-1, 2, 0, 0.4, -0.0});
  const double s = 3.0 / 255.0;
  CHECK(t.group_scale(0).scale == s);
  CHECK(t.group_scale(0).zero_point == 85);
  CHECK(t.code(0) == 0);
  CHECK(t.code(1) == 255);
  CHECK(t.code(2) == 85);
  CHECK(t.code(3) == 119);
  CHECK(t.code(4) == 85);
  CHECK(same_double(t.value(2), 0.0));
  CHECK(same_double(t.value(4), 0.0));
  CHECK(t.value(0) == -85 * s);
  CHECK(t.value(1) == 170 * s);
  // Signed: qmin = -128, z = -128 + 85 = -43 (0xD5).
  Tensor u = make("affine(bits=8,signed=yes)", {3});
  u.quantize(std::vector<double>{-1, 2, 0});
  CHECK(u.group_scale(0).zero_point == -43);
  CHECK(u.code(0) == 0x80);
  CHECK(u.code(1) == 0x7F);
  CHECK(u.code(2) == 0xD5);
  CHECK(same_double(u.value(2), 0.0));
  CHECK(u.value(1) == 170 * s);

  // Zero point halves round up (gemmlowp's std::round): range [-1, 509] gives s = 510/255 = 2 exactly,
  // -m/s = 0.5 -> z = 1. 509/2 = 254.5 -> rne 254 -> q = 255, value 508.
  Tensor h = make("affine(bits=8)", {3});
  h.quantize(std::vector<double>{-1, 509, 0});
  CHECK(h.group_scale(0).scale == 2);
  CHECK(h.group_scale(0).zero_point == 1);
  CHECK(h.code(2) == 1);
  CHECK(h.value(2) == 0);
  CHECK(h.code(1) == 255);
  CHECK(h.value(1) == 508);
  CHECK(h.code(0) == 1);  // -1/2 = -0.5 -> rne -> 0 -> q = z

  // All positive: the range widens to [0, 2], z = 0, s = RN(2/255).
  Tensor p = make("affine(bits=8)", {2});
  p.quantize(std::vector<double>{0.5, 2});
  CHECK(p.group_scale(0).zero_point == 0);
  CHECK(p.group_scale(0).scale == 2.0 / 255.0);
  CHECK(p.code(1) == 255);
  // All zero: s = 1, z = qmin.
  Tensor zz = make("affine(bits=4,signed=yes)", {2});
  zz.quantize(std::vector<double>{0, 0});
  CHECK(zz.group_scale(0).scale == 1);
  CHECK(zz.group_scale(0).zero_point == -8);
  CHECK(zz.code(0) == 0x8);
  CHECK(zz.value(0) == 0);
}

TEST_CASE("tensor: affine represents 0 exactly and stays within half a step, random data", "[tensor]") {
  std::mt19937 rng(21);
  std::uniform_real_distribution<double> ud(-1, 1);
  std::bernoulli_distribution zero(0.2);
  const Shape shape{4, 3, 5};
  for (int bits : {1, 2, 3, 4, 8, 12, 16, 32})
    for (bool sgn : {false, true})
      for (int axis : {-1, 1}) {
        const double lo = ud(rng) * 10, hi = lo + std::fabs(ud(rng)) * 20;
        std::vector<double> x(static_cast<std::size_t>(shape.numel()));
        for (auto& v : x) v = zero(rng) ? 0.0 : lo + (hi - lo) * (ud(rng) + 1) / 2;
        const TensorPolicy pol = TensorPolicy::affine(bits, sgn, axis < 0 ? std::nullopt : std::optional<int>(axis));
        INFO(pol.to_string() << " range " << lo << " " << hi);
        for (Rounding mode : {Rounding::rne, Rounding::sr}) {
          Tensor t(shape, pol, {mode, 32}, 3);
          t.quantize(x);
          const auto v = decoded(t);
          for (std::size_t i = 0; i < x.size(); ++i) {
            const GroupScale gs = t.group_scale(t.group_of(static_cast<std::int64_t>(i)));
            REQUIRE(gs.zero_point >= pol.qmin());
            REQUIRE(gs.zero_point <= pol.qmax());
            if (x[i] == 0) REQUIRE(v[i] == 0.0);
            // Within one step (sr) or half a step plus the scale's rounding slack (rne).
            const double step = gs.scale * (mode == Rounding::sr ? 1.0 : 0.5);
            REQUIRE(std::fabs(v[i] - x[i]) <= step * (1 + 1e-9) + gs.scale * 1e-9);
          }
        }
      }
}

// ---- MX ----------------------------------------------------------------------------------------

TEST_CASE("tensor: mxfp8_e4m3 blocks (hand-derived from the OCP rules)", "[tensor][mx]") {
  // Row of 40: block 0 = elements 0..31, block 1 = 32..39 (a short last block).
  // Block 0: amax 500, floor(log2 500) = 8, emax(E4M3) = 8 -> e = 0, X = 1, E8M0 code 127.
  //   500 -> beyond 448: saturates to 448 = 0b0_1111_110 = 0x7E
  //   3.0 = 1.5 * 2^1 -> field 8, frac 4 -> 0x44
  //   -0.1 = -1.6 * 2^-4 -> field 3, frac 4.8 -> 5 -> 0x9D (value -0.1015625)
  //   1.0 -> field 7 -> 0x38
  //   2^-10: half the smallest subnormal 2^-9: tie -> even -> 0 (0x00)
  // Block 1: amax 40, floor(log2 40) = 5 -> e = -3, X = 1/8, E8M0 code 124.
  //   0.75 * 8 = 6 = 1.5 * 2^2 -> field 9, frac 4 -> 0x4C
  //   -40 * 8 = -320 = -1.25 * 2^8 -> field 15, frac 2 -> 0xFA
  //   7 * 8 = 56 = 1.75 * 2^5 -> field 12, frac 6 -> 0x66
  std::vector<double> x = block_of({500, 3.0, -0.1, 1.0, 0x1p-10}, 40);
  x[32] = 0.75;
  x[33] = -40;
  x[34] = 7;
  Tensor t = make("mxfp8_e4m3", {1, 40});
  t.quantize(x);
  REQUIRE(t.num_groups() == 2);
  CHECK(t.group_of(31) == 0);
  CHECK(t.group_of(32) == 1);
  REQUIRE(t.e8m0_scales().size() == 2);
  CHECK(t.e8m0_scales()[0] == 127);
  CHECK(t.e8m0_scales()[1] == 124);
  CHECK(t.group_scale(1).exponent == -3);
  CHECK(t.group_scale(1).scale == 0.125);
  CHECK(t.code(0) == 0x7E);
  CHECK(t.code(1) == 0x44);
  CHECK(t.code(2) == 0x9D);
  CHECK(t.code(3) == 0x38);
  CHECK(t.code(4) == 0x00);
  CHECK(t.code(5) == 0x00);
  CHECK(t.code(32) == 0x4C);
  CHECK(t.code(33) == 0xFA);
  CHECK(t.code(34) == 0x66);
  CHECK(t.code(39) == 0x00);
  const auto v = decoded(t);
  CHECK(v[0] == 448);
  CHECK(v[1] == 3);
  CHECK(v[2] == -0.1015625);
  CHECK(v[4] == 0);
  CHECK(v[32] == 0.75);
  CHECK(v[33] == -40);
  CHECK(v[34] == 7);
  std::vector<float> vf(40);
  t.decode(vf);
  CHECK(vf[2] == -0.1015625f);
}

TEST_CASE("tensor: mxfp4, mxfp6, mxint8, mxfp8_e5m2 blocks (hand-derived)", "[tensor][mx]") {
  {
    // E2M1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6 (codes 0..7). amax 10: floor(log2 10) = 3, emax 2 -> e = 1, X = 2.
    //   10/2 = 5: tie between 4 (0b110) and 6 (0b111) -> 4, code 0x6, value 8
    //   1/2 = 0.5 -> 0x1, value 1
    //   -2.5/2 = -1.25: tie between 1 (0b010) and 1.5 (0b011) -> 1, code 0xA, value -2
    //   0.3/2 = 0.15 < 0.25 -> 0
    Tensor t = make("mxfp4_e2m1", {32});
    t.quantize(block_of({10, 1, -2.5, 0.3}));
    CHECK(t.e8m0_scales()[0] == 128);
    CHECK(t.code(0) == 0x6);
    CHECK(t.code(1) == 0x1);
    CHECK(t.code(2) == 0xA);
    CHECK(t.code(3) == 0x0);
    CHECK(t.codes().bytes()[0] == 0x16);  // two codes per byte, element 0 in the low nibble
    CHECK(t.codes().bytes()[1] == 0x0A);
    CHECK(t.codes().bytes().size() == 16);
    const auto v = decoded(t);
    CHECK(v[0] == 8);
    CHECK(v[1] == 1);
    CHECK(v[2] == -2);
    CHECK(v[3] == 0);
  }
  {
    // E3M2 (bias 3), emax 4. amax 28: floor(log2 28) = 4 -> e = 0, X = 1.
    //   28 = 1.75 * 2^4 -> field 7, frac 3 -> 0x1F
    //   0.3 = 1.2 * 2^-2 -> field 1, frac 0.8 -> 1 -> 0x05, value 0.3125
    Tensor t = make("mxfp6_e3m2", {32});
    t.quantize(block_of({28, 0.3}));
    CHECK(t.e8m0_scales()[0] == 127);
    CHECK(t.code(0) == 0x1F);
    CHECK(t.code(1) == 0x05);
    CHECK(t.value(1) == 0.3125);
    CHECK(t.codes().bytes().size() == 24);  // 32 six-bit codes
  }
  {
    // E2M3 (bias 1), emax 2. amax 7.5 -> e = 0. 7.5 = 1.875 * 2^2 -> field 3, frac 7 -> 0x1F;
    //   -0.2: subnormal quantum 2^-3, 0.2 / 0.125 = 1.6 -> 2 -> sign | 0b00010 = 0x22, value -0.25
    Tensor t = make("mxfp6_e2m3", {32});
    t.quantize(block_of({7.5, -0.2}));
    CHECK(t.e8m0_scales()[0] == 127);
    CHECK(t.code(0) == 0x1F);
    CHECK(t.code(1) == 0x22);
    CHECK(t.value(1) == -0.25);
  }
  {
    // MXINT8: fixed(i=1,f=6), emax 0. amax 3: floor(log2 3) = 1 -> X = 2.
    //   3/2 = 1.5 -> 96 (0x60); -1/2 = -0.5 -> -32 (0xE0); 0.01/2 * 64 = 0.32 -> 0
    Tensor t = make("mxint8", {32});
    t.quantize(block_of({3.0, -1.0, 0.01}));
    CHECK(t.e8m0_scales()[0] == 128);
    CHECK(t.code(0) == 0x60);
    CHECK(t.code(1) == 0xE0);
    CHECK(t.code(2) == 0x00);
    CHECK(t.value(0) == 3);
    CHECK(t.value(1) == -1);
    // -3.99: X = 2, -1.995 * 64 = -127.68 -> -128 = -2.0 (0x80): the two's-complement minimum is used.
    Tensor u = make("mxint8", {32});
    u.quantize(block_of({-3.99, 1}));
    CHECK(u.code(0) == 0x80);
    CHECK(u.value(0) == -4);
  }
  {
    // E5M2, emax 15. amax 86016 = 1.3125 * 2^16 -> e = 1, X = 2. 43008 = 1.3125 * 2^15: frac 1.25 -> 1
    //   -> 1.25 * 2^15 = 40960, field 30 -> 0b0_11110_01 = 0x79, value 81920. 1/2 = 0.5 -> field 14 -> 0x38.
    Tensor t = make("mxfp8_e5m2", {32});
    t.quantize(block_of({86016, 1}));
    CHECK(t.e8m0_scales()[0] == 128);
    CHECK(t.code(0) == 0x79);
    CHECK(t.value(0) == 81920);
    CHECK(t.code(1) == 0x38);
    // Saturation, not infinity: amax 65535 -> e = 0; 65535 > 57344 (and beyond the IEEE overflow
    // threshold 61440) -> 57344 = 0x7B.
    Tensor u = make("mxfp8_e5m2", {32});
    u.quantize(block_of({65535}));
    CHECK(u.e8m0_scales()[0] == 127);
    CHECK(u.code(0) == 0x7B);
    CHECK(u.value(0) == 57344);
  }
}

TEST_CASE("tensor: mx special blocks: zero, NaN, Inf, scale clamping, exact tiny quotients", "[tensor][mx]") {
  {
    // All zero: floor(log2 0) = -inf, clamped to -127: E8M0 code 0. Zeros keep their sign.
    Tensor t = make("mxfp8_e4m3", {32});
    t.quantize(block_of({0.0, -0.0}));
    CHECK(t.e8m0_scales()[0] == 0);
    CHECK(t.code(0) == 0x00);
    CHECK(t.code(1) == 0x80);
    CHECK(same_double(t.value(1), -0.0));
  }
  {
    // A NaN: the block's scale is NaN (0xFF), every element decodes to NaN; element codes are the E4M3 NaN
    // 0x7F (formats without NaN: 0). An infinity does the same.
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    Tensor t = make("mxfp8_e4m3", {2, 32});
    std::vector<double> x = block_of({1.0, nan}, 64);
    x[40] = 2.0;
    t.quantize(x);
    CHECK(t.e8m0_scales()[0] == 0xFF);
    CHECK(t.group_scale(0).is_nan);
    CHECK(t.e8m0_scales()[1] == 120);  // the next row's block: floor(log2 2) - 8 = -7 -> code 120
    const auto v = decoded(t);
    for (int i = 0; i < 32; ++i) CHECK(std::isnan(v[static_cast<std::size_t>(i)]));
    CHECK(t.code(0) == 0x7F);
    CHECK(v[40] == 2.0);
    Tensor e5 = make("mxfp8_e5m2", {32});
    e5.quantize(block_of({nan}));
    CHECK(e5.code(5) == 0x7E);  // formats.md's canonical E5M2 NaN: 0b0_11111_10
    Tensor u = make("mxfp4_e2m1", {32});
    u.quantize(block_of({-inf, 1.0}));
    CHECK(u.e8m0_scales()[0] == 0xFF);
    CHECK(u.code(0) == 0);
    CHECK(std::isnan(u.value(1)));
  }
  {
    // Below the E8M0 range (float input): amax 2^-130 -> e = -130 - 8 = -138 -> clamped to -127 (code 0).
    //   2^-130 / 2^-127 = 2^-3 -> field 4 -> 0x20, value 2^-130 exact;
    //   2^-140 / 2^-127 = 2^-13 < 2^-10 (half the smallest subnormal) -> 0.
    Tensor t = make("mxfp8_e4m3", {32});
    const auto xd = block_of({0x1p-130, 0x1p-140});
    t.quantize(std::vector<float>(xd.begin(), xd.end()));
    CHECK(t.e8m0_scales()[0] == 0);
    CHECK(t.code(0) == 0x20);
    CHECK(t.value(0) == 0x1p-130);
    CHECK(t.code(1) == 0x00);
  }
  {
    // Above the E8M0 range (double input): amax 2^200 -> e = 192 -> clamped to 127 (code 254).
    //   2^200 / 2^127 = 2^73 and 2^190 / 2^127 = 2^63 saturate to 448 (0x7E); 1 / 2^127 -> 0.
    Tensor t = make("mxfp8_e4m3", {32});
    t.quantize(block_of({0x1p200, 0x1p190, 1.0}));
    CHECK(t.e8m0_scales()[0] == 254);
    CHECK(t.code(0) == 0x7E);
    CHECK(t.code(1) == 0x7E);
    CHECK(t.code(2) == 0x00);
    CHECK(t.value(0) == 448 * 0x1p127);
  }
  {
    // Exact quotient below the doubles: 2^-1074 / 2^127 = 2^-1201. rup -> 2^-9 (code 0x01), rne -> 0.
    Tensor up = make("mxfp8_e4m3", {32}, {Rounding::rup, 32});
    up.quantize(block_of({0x1p200, 0x1p-1074}));
    CHECK(up.code(1) == 0x01);
    CHECK(up.value(1) == 0x1p118);
    Tensor ne = make("mxfp8_e4m3", {32});
    ne.quantize(block_of({0x1p200, 0x1p-1074}));
    CHECK(ne.code(1) == 0x00);
  }
}

TEST_CASE("tensor: round_values equals quantize then decode bit for bit, every policy kind and mode", "[tensor][mx]") {
  // The one-pass path (scaled and MX policies of float and fixed formats) and the fallback (the rest)
  // against the codes path, on rows with zeros, signs, tiny and huge magnitudes per block, a NaN block
  // and an infinity; `scaled` with a format far below 1 makes quotients leave the doubles (each_exact).
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-150, 127);
  const Shape shape{6, 70};  // rows of 70: blocks of 32, 32 and 6
  std::vector<float> x(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const int block_exponent = exponent(rng) / (1 + static_cast<int>(i / 32) % 3);
    x[i] = i % 7 == 3 ? 0.0f : static_cast<float>(std::ldexp(static_cast<double>(normal(rng)), block_exponent));
  }
  x[5] = -0.0f;
  x[100] = 0x1p-149f;
  x[101] = 0x1p127f;
  std::vector<float> with_nan = x;
  with_nan[200] = nan;
  with_nan[300] = -inf;
  std::size_t compared = 0, errors = 0;
  for (const char* policy : {"mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8",
                             "mx(element=fp16,block=8)", "mx(element=binary8p3ue,block=16)", "scaled(format=int8)",
                             "scaled(format=fp8_e4m3,scale=real)", "scaled(format=int8,axis=1)",
                             "scaled(format=fixed(i=-900,f=920))", "affine(bits=8,axis=0)", "fp8_e5m2"}) {
    const TensorPolicy p = parse_policy(policy);
    for (const Rounding mode : {Rounding::rne, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr}) {
      if (p.kind() == PolicyKind::affine && mode != Rounding::rne) continue;
      for (const std::vector<float>* input : {&x, &with_nan}) {
        INFO(policy << " " << bitsim::formats::rounding_name(mode) << (input == &x ? "" : " with NaN"));
        Tensor codes(shape, p, {mode, 24}, 77), values(shape, p, {mode, 24}, 77);
        std::vector<float> want(input->size()), got = *input;
        std::string want_error, got_error;
        try {
          codes.quantize_decode(std::span<const float>(*input), std::span<float>(want), 5);
        } catch (const QuantizeError& e) {
          want_error = e.what();
        }
        try {
          values.round_values(got, 5);
        } catch (const QuantizeError& e) {
          got_error = e.what();
        }
        CHECK(got_error == want_error);
        errors += !want_error.empty();
        if (!want_error.empty()) continue;
        std::size_t differ = 0;
        for (std::size_t i = 0; i < want.size(); ++i)
          differ += std::bit_cast<std::uint32_t>(want[i]) != std::bit_cast<std::uint32_t>(got[i]);
        CHECK(differ == 0);
        compared += want.size();
      }
    }
  }
  CHECK(compared > 40000);
  CHECK(errors > 0);  // a NaN into int8 and fixed point: the same message naming the element
}

TEST_CASE("tensor: mx blocks run along the last axis and never cross rows", "[tensor][mx]") {
  // mx(element=fp8_e4m3,block=4) on [2,3,5]: 6 rows of 5 -> blocks of 4 and 1 -> 12 groups.
  Tensor t = make("mx(element=fp8_e4m3,block=4)", {2, 3, 5});
  REQUIRE(t.num_groups() == 12);
  CHECK(t.group_of(t.shape().offset({0, 0, 3})) == 0);
  CHECK(t.group_of(t.shape().offset({0, 0, 4})) == 1);
  CHECK(t.group_of(t.shape().offset({0, 1, 0})) == 2);
  CHECK(t.group_of(t.shape().offset({1, 2, 4})) == 11);
  std::vector<double> x(30, 1.0);                  // every block: amax 1 -> e = 0 - 8 = -8 (code 119)
  x[static_cast<std::size_t>(t.shape().offset({0, 0, 4}))] = 256;  // row 0 block 1 alone: e = 0 (code 127)
  t.quantize(x);
  for (std::int64_t g = 0; g < 12; ++g) CHECK(t.e8m0_scales()[static_cast<std::size_t>(g)] == (g == 1 ? 127 : 119));
  CHECK(t.value({0, 0, 4}) == 256);
  CHECK(t.value({0, 0, 3}) == 1);
  CHECK(t.code({0, 0, 3}) == 0x78);  // 1 / 2^-8 = 256 -> field 15 -> 0x78
}

// ---- views, errors ---------------------------------------------------------------------------------

TEST_CASE("tensor: views of a sample and a channel share codes and scales", "[tensor]") {
  std::mt19937 rng(4);
  std::normal_distribution<double> nd(0, 5);
  const Shape shape{2, 3, 2, 2};
  std::vector<double> x(24);
  for (auto& v : x) v = nd(rng);
  for (const char* spec : {"fp6_e3m2", "scaled(format=int8,scale=pow2,axis=1)", "affine(bits=3,axis=1)", "mx(element=fp4_e2m1,block=2)"}) {
    INFO(spec);
    Tensor t = make(spec, shape);
    t.quantize(x);
    const auto full = decoded(t);
    const TensorView sample = t[1];
    CHECK(sample.shape() == Shape{3, 2, 2});
    CHECK(sample.offset() == 12);
    std::vector<double> sv(12);
    sample.decode(sv);
    for (std::size_t i = 0; i < 12; ++i) CHECK(same_double(sv[i], full[12 + i]));
    const TensorView channel = t[1][2];
    CHECK(channel.offset() == 20);
    std::vector<float> cv(4);
    channel.decode(cv);
    for (std::size_t i = 0; i < 4; ++i) CHECK(same_double(cv[i], static_cast<float>(full[20 + i])));
    CHECK(channel.code(3) == t.code(23));
    CHECK(same_double(channel[1].value(0), full[22]));
    CHECK_THROWS_AS(t[2], ShapeError);
    CHECK_THROWS_AS(channel.value(4), ShapeError);
    CHECK_THROWS_AS(sample.decode(cv), TensorError);
  }
}

TEST_CASE("tensor: errors leave the tensor unchanged", "[tensor]") {
  using Catch::Matchers::Contains;
  Tensor t = make("int8", {2, 2});
  t.quantize(std::vector<double>{1, 2, 3, 4});
  const auto before = all_codes(t);
  try {
    t.quantize(std::vector<double>{5, 6, std::numeric_limits<double>::quiet_NaN(), 8});
    FAIL("no exception");
  } catch (const QuantizeError& e) {
    CHECK_THAT(e.what(), Contains("element 2 [1,0]"));
  }
  CHECK(all_codes(t) == before);
  CHECK_THROWS_AS(t.quantize(std::vector<double>{1, 2, 3}), TensorError);
  std::vector<double> small(3);
  CHECK_THROWS_AS(t.decode(small), TensorError);
  CHECK_THROWS_AS(t.value(4), TensorError);
  CHECK_THROWS_AS(t.set_code(0, 0x100), PackingError);
  CHECK_THROWS_AS(make("scaled(format=int8,scale=pow2,axis=2)", {2, 2}), TensorError);
  CHECK_THROWS_AS(make("affine(bits=8,axis=1)", {4}), TensorError);
  CHECK_THROWS_AS(make("fp8_e4m3", {2}, {Rounding::sr, 33}), QuantizeError);
  const Tensor fresh = make("affine(bits=8,signed=yes)", {3});  // a new tensor holds quantize(+0)
  CHECK(fresh.value(0) == 0);
  CHECK(make("mxfp8_e4m3", {0, 32}).num_groups() == 0);
  CHECK(make("scaled(format=int8,scale=pow2,axis=0)", {0, 3}).num_groups() == 0);
}
