// Stochastic rounding (formats.md section 2): Philox4x32-10 word stream, words from a file, exact
// inputs unchanged, and the mean of many draws.
#include "format_corpus.hpp"

#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"

#include <Random123/philox.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

using namespace bitsim::formats;

TEST_CASE("PhiloxWords equals Random123's Philox4x32-10 with the spec's key and counter", "[sr][philox]") {
  for (std::uint64_t seed : {0ull, 1ull, 0xDEADBEEFull, 0x0123456789ABCDEFull, ~0ull}) {
    const PhiloxWords words(seed);
    r123::Philox4x32 gen;
    r123::Philox4x32::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
    for (std::uint64_t i : {0ull, 1ull, 2ull, 3ull, 4ull, 7ull, 1000ull, 123456789ull, (1ull << 34) + 5}) {
      r123::Philox4x32::ctr_type ctr = {{static_cast<std::uint32_t>(i / 4), static_cast<std::uint32_t>((i / 4) >> 32), 0, 0}};
      const auto block = gen(ctr, key);
      REQUIRE(words.word(i) == block.v[i % 4]);
    }
    std::vector<std::uint32_t> bulk(1003);
    words.fill(5, bulk);
    for (std::size_t j = 0; j < bulk.size(); ++j) REQUIRE(bulk[j] == words.word(5 + j));
  }
}

TEST_CASE("stochastic rounding with file-supplied words gives the documented result", "[sr]") {
  // fp8_e4m3, x = 1 + 2^-5 lies between d = 1 and u = 1.125 with t = 1/4. With R = 32,
  // f = 2^30 and the result is u iff f + r >= 2^32, i.e. r >= 0xC0000000.
  const Format e4m3 = parse_format("fp8_e4m3");
  const Quantizer q32(e4m3, {Rounding::sr, 32});
  CHECK(q32.quantize(1.03125, 0xBFFFFFFFu).value == 1.0);
  CHECK(q32.quantize(1.03125, 0xC0000000u).value == 1.125);
  CHECK(q32.quantize(-1.03125, 0xC0000000u).value == -1.125);  // floats round the magnitude
  CHECK(q32.quantize(-1.03125, 0xBFFFFFFFu).value == -1.0);
  // R = 2: r = w >> 30, f = floor(t * 4) = 1: up iff r = 3: the same boundary.
  const Quantizer q2(e4m3, {Rounding::sr, 2});
  CHECK(q2.quantize(1.03125, 0xBFFFFFFFu).value == 1.0);
  CHECK(q2.quantize(1.03125, 0xC0000000u).value == 1.125);
  // R = 1: f = floor(t * 2) = 0 and r <= 1: never up.
  const Quantizer q1(e4m3, {Rounding::sr, 1});
  CHECK(q1.quantize(1.03125, 0xFFFFFFFFu).value == 1.0);
  // Fixed point acts on the signed value: int8, x = -2.25, d = -3, t = 3/4, f = 0xC0000000:
  // the code is d+1 = -2 iff r >= 0x40000000.
  const Quantizer i8(parse_format("int8"), {Rounding::sr, 32});
  CHECK(i8.quantize(-2.25, 0x3FFFFFFFu).value == -3.0);
  CHECK(i8.quantize(-2.25, 0x40000000u).value == -2.0);
  CHECK(i8.quantize(2.25, 0xBFFFFFFFu).value == 2.0);
  CHECK(i8.quantize(2.25, 0xC0000000u).value == 3.0);
}

TEST_CASE("stochastic rounding never changes an exactly representable input", "[sr][slow]") {
  std::mt19937 rng(3);
  for (const auto& spec : bitsim::test::small_formats()) {
    const Format f = parse_format(spec);
    if (f.has_own_rounding()) continue;
    for (int R : {1, 8, 32}) {
      const Quantizer q(f, {Rounding::sr, R});
      for (const auto& [code, g] : bitsim::test::all_codes(f)) {
        if (g.kind != ValueKind::finite || !g.exact || rational_from_double(std::fabs(g.value)) != *g.exact) continue;
        if (f.is<FloatFormat>() && !f.as<FloatFormat>().subnormals && g.value != 0 &&
            std::fabs(g.value) < std::ldexp(1.0, static_cast<int>(f.as<FloatFormat>().emin())))
          continue;  // flushed by design
        for (std::uint32_t w : {0u, 0xFFFFFFFFu, static_cast<std::uint32_t>(rng())}) {
          const Quantized r = q.quantize(g.value, w);
          INFO(spec << " R=" << R << " value " << g.value << " word " << w);
          REQUIRE(bitsim::test::same_double(r.value, g.value));
          REQUIRE(r.flags == 0);
        }
      }
    }
  }
}

TEST_CASE("the mean of many stochastic roundings is the input, within the statistical bound", "[sr]") {
  const PhiloxWords rng(2024);
  struct Case {
    const char* format;
    double x, d, u;
    int R;
  };
  const Case cases[] = {
      {"fp8_e4m3", 1.03125, 1.0, 1.125, 32},     {"fp8_e4m3", 0.3, 0.28125, 0.3125, 32},
      {"bf16", 1.0 + 1.0 / 3.0 * std::ldexp(1.0, -7), 1.0, 1.0 + std::ldexp(1.0, -7), 32},
      {"fp8_e5m2", -3.3, -3.0, -3.5, 32},        {"int8", -2.7, -3.0, -2.0, 32},
      {"fp8_e4m3", 1.0 + 0.3 * 0.125, 1.0, 1.125, 3},  // R = 3: the mean is d + (u-d) * floor(t*8)/8
  };
  const std::uint64_t N = 400000;
  for (const Case& c : cases) {
    const Quantizer q(parse_format(c.format), {Rounding::sr, c.R});
    double sum = 0;
    for (std::uint64_t i = 0; i < N; ++i) sum += q.quantize(c.x, rng.word(i)).value;
    const double mean = sum / static_cast<double>(N);
    // P(up) = floor(t * 2^R) / 2^R exactly; the expected mean follows.
    const double t = (c.x - c.d) / (c.u - c.d);
    const double p = std::floor(t * std::ldexp(1.0, c.R)) / std::ldexp(1.0, c.R);
    const double expected = c.d + (c.u - c.d) * p;
    const double sigma = std::fabs(c.u - c.d) * std::sqrt(p * (1 - p) / static_cast<double>(N));
    INFO(c.format << " x=" << c.x << " mean " << mean << " expected " << expected << " sigma " << sigma);
    CHECK(std::fabs(mean - expected) < 5 * sigma);
    if (c.R == 32) CHECK(std::fabs(expected - c.x) < std::fabs(c.u - c.d) * 1e-9);
  }
}

TEST_CASE("words files: decimal and hex, blank lines, errors name the line", "[sr][words]") {
  const std::string path = "bitsim_test_words.txt";
  {
    std::ofstream out(path);
    out << "1\n\n  0x10 \n0XFFFFFFFF\n4294967295\n";
  }
  const auto words = read_words_file(path);
  REQUIRE(words == std::vector<std::uint32_t>{1u, 16u, 0xFFFFFFFFu, 0xFFFFFFFFu});
  {
    std::ofstream out(path);
    out << "1\n2\n4294967296\n";
  }
  REQUIRE_THROWS_WITH(read_words_file(path), Catch::Contains(":3:"));
  {
    std::ofstream out(path);
    out << "12abc\n";
  }
  REQUIRE_THROWS_WITH(read_words_file(path), Catch::Contains(":1:"));
  std::remove(path.c_str());
}
