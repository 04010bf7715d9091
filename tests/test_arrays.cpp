// The vectorized array kernels (float and double) against the scalar path, bit for bit, in every
// rounding mode; in-place use; Philox words; errors.
#include "format_corpus.hpp"

#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cmath>
#include <random>

using namespace bitsim::formats;
using bitsim::test::same_double;

namespace {

std::vector<std::string> array_formats() {
  std::vector<std::string> v = bitsim::test::small_formats();
  for (const auto& s : bitsim::test::wide_formats()) v.push_back(s);
  return v;
}

}  // namespace

TEST_CASE("array kernels equal the scalar path for every format and mode", "[arrays]") {
  std::size_t compared = 0, bad = 0;
  std::string first_bad;  // the first few mismatches (reported with the final check)
  std::mt19937 rng(5);
  for (const auto& spec : array_formats()) {
    const Format f = parse_format(spec);
    const auto inputs = bitsim::test::adversarial_inputs(f, 500, f.width() > 12 ? 61 : 1, 77);
    std::vector<double> in_d;
    std::vector<float> in_f;
    for (double x : inputs) {
      in_d.push_back(x);
      if (std::isnan(x) || static_cast<double>(static_cast<float>(x)) == x) in_f.push_back(static_cast<float>(x));
    }
    for (Rounding mode : bitsim::test::modes_for(f)) {
      const Quantizer q(f, {mode, mode == Rounding::sr ? 11 : 32});
      std::vector<std::uint32_t> words(in_d.size());
      for (auto& w : words) w = static_cast<std::uint32_t>(rng());
      // Formats without NaN reject NaN inputs: feed those only to formats that take them.
      auto takes = [&](double x) {
        try {
          (void)q.quantize(x, 0);
          return true;
        } catch (const QuantizeError&) {
          return false;
        }
      };
      if (q.supports_double_arrays()) {
        std::vector<double> in, out;
        std::vector<std::uint32_t> w;
        for (std::size_t i = 0; i < in_d.size(); ++i)
          if (takes(in_d[i])) {
            in.push_back(in_d[i]);
            w.push_back(words[i]);
          }
        out.resize(in.size());
        q.quantize(std::span<const double>(in), std::span<double>(out), w);
        for (std::size_t i = 0; i < in.size(); ++i, ++compared)
          if (!same_double(out[i], q.quantize(in[i], w[i]).value)) {
            if (bad < 5)
              first_bad += fmt::format("{} {} double x={} array {} scalar {}\n", spec, rounding_name(mode), in[i], out[i],
                                       q.quantize(in[i], w[i]).value);
            ++bad;
          }
      }
      if (q.supports_float_arrays()) {
        std::vector<float> in, out;
        std::vector<std::uint32_t> w;
        for (std::size_t i = 0; i < in_f.size(); ++i)
          if (takes(in_f[i])) {
            in.push_back(in_f[i]);
            w.push_back(words[i]);
          }
        out = in;  // in place
        q.quantize(std::span<const float>(out), std::span<float>(out), w);
        for (std::size_t i = 0; i < in.size(); ++i, ++compared) {
          // For float and fixed formats the value is exact in float; Graham values are rounded to
          // the nearest float directly (checked against the nearest double here).
          const double scalar = q.quantize(in[i], w[i]).value;
          if (!same_double(static_cast<double>(out[i]), static_cast<double>(static_cast<float>(scalar)))) {
            if (bad < 5)
              first_bad += fmt::format("{} {} float x={} array {} scalar {}\n", spec, rounding_name(mode), in[i], out[i], scalar);
            ++bad;
          }
        }
      }
    }
  }
  INFO("compared " << compared);
  CHECK(compared > 200000);
  INFO(first_bad);
  REQUIRE(bad == 0);
}

TEST_CASE("Philox array words equal per-element words", "[arrays][sr]") {
  const Quantizer q(parse_format("fp8_e4m3"), {Rounding::sr, 32});
  const PhiloxWords rng(0x1234'5678'9ABC'DEF0ull);
  std::vector<float> in(5000);
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  for (auto& x : in) x = nd(gen);
  std::vector<float> out(in.size());
  const std::uint64_t first = 13;  // not a multiple of 4: exercises the partial Philox block
  q.quantize(std::span<const float>(in), std::span<float>(out), rng, first);
  for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == static_cast<float>(q.quantize(in[i], rng.word(first + i)).value));
}

TEST_CASE("array errors name the element - formats that do not fit are rejected", "[arrays][errors]") {
  const Quantizer int8(parse_format("int8"));
  std::vector<float> in = {1.0f, 2.0f, std::nanf(""), 4.0f};
  std::vector<float> out(in.size());
  REQUIRE_THROWS_WITH(int8.quantize(std::span<const float>(in), std::span<float>(out)), Catch::Contains("element 2"));
  const Quantizer int32(parse_format("int32"));
  CHECK_FALSE(int32.supports_float_arrays());
  CHECK(int32.supports_double_arrays());
  REQUIRE_THROWS_AS(int32.quantize(std::span<const float>(in), std::span<float>(out)), QuantizeError);
  const Quantizer sr(parse_format("bf16"), {Rounding::sr, 32});
  REQUIRE_THROWS_WITH(sr.quantize(std::span<const float>(in), std::span<float>(out)), Catch::Contains("random word"));
  const Quantizer wrap(parse_format("fixed(i=3,f=4,overflow=wrap)"));
  std::vector<double> inf_in = {0.5, HUGE_VAL}, inf_out(2);
  REQUIRE_THROWS_WITH(wrap.quantize(std::span<const double>(inf_in), std::span<double>(inf_out)), Catch::Contains("element 1"));
}

TEST_CASE("array kernels equal the scalar path on dense normal-range data (the vector fast paths)", "[arrays]") {
  // Whole vectors of in-range values take the kernels' common-case paths; sprinkled specials,
  // overflows and tiny values send some vectors down the general path.
  std::mt19937 gen(11);
  std::size_t bad = 0, compared = 0;
  for (const char* spec : {"fp8_e4m3", "fp8_e5m2", "bf16", "fp16", "fp8_e4m3fnuz", "fp6_e2m3", "fp4_e2m1", "tf32",
                           "float(e=5,m=2,subnormals=no)", "float(e=4,m=3,overflow=nan,special=fn)", "int8", "uint8",
                           "fixed(i=3,f=4)", "fixed(i=2,f=13)", "fixed(i=10,f=-3)", "int16", "graham_L4", "graham_U8",
                           "graham_L5", "graham_O4"}) {
    const Format f = parse_format(spec);
    for (Rounding mode : bitsim::test::modes_for(f)) {
      const Quantizer q(f, {mode, mode == Rounding::sr ? 9 : 32});
      for (float sigma : {0.01f, 1.0f, 50.0f, 3000.0f}) {
        std::normal_distribution<float> nd(0.0f, sigma);
        std::vector<float> in(4099);
        for (auto& x : in) x = nd(gen);
        if (sigma > 1000) in[17] = HUGE_VALF, in[2000] = -HUGE_VALF;
        std::vector<std::uint32_t> words(in.size());
        for (auto& w : words) w = static_cast<std::uint32_t>(gen());
        std::vector<float> out(in.size());
        std::vector<double> in_d(in.begin(), in.end()), out_d(in.size());
        if (q.supports_float_arrays()) q.quantize(std::span<const float>(in), std::span<float>(out), words);
        if (q.supports_double_arrays()) q.quantize(std::span<const double>(in_d), std::span<double>(out_d), words);
        for (std::size_t i = 0; i < in.size(); ++i) {
          const double scalar = q.quantize(in[i], words[i]).value;
          ++compared;
          if (q.supports_float_arrays() && !bitsim::test::same_double(out[i], static_cast<float>(scalar))) {
            if (bad < 5) UNSCOPED_INFO(spec << " " << rounding_name(mode) << " float x=" << in[i] << " array " << out[i] << " scalar " << scalar);
            ++bad;
          }
          if (q.supports_double_arrays() && !bitsim::test::same_double(out_d[i], scalar)) {
            if (bad < 5) UNSCOPED_INFO(spec << " " << rounding_name(mode) << " double x=" << in[i] << " array " << out_d[i] << " scalar " << scalar);
            ++bad;
          }
        }
      }
    }
  }
  INFO("compared " << compared);
  REQUIRE(bad == 0);
}

TEST_CASE("Graham formats beyond the table size: double arrays through the golden path", "[arrays]") {
  const Quantizer q(parse_format("midrise(s=1,lo=-5000,hi=5000)"));
  CHECK(q.supports_double_arrays());
  CHECK_FALSE(q.supports_float_arrays());
  std::vector<double> in = {1.5, 3.0, -7.2, 1e9}, out(4);
  q.quantize(std::span<const double>(in), std::span<double>(out));
  CHECK(out == std::vector<double>{1.5, 3.5, -7.5, 5000.5});  // (1/2 + floor(x)) clamped to [-5000, 5000]
  std::vector<float> inf(2), outf(2);
  CHECK_THROWS_WITH(q.quantize(std::span<const float>(inf), std::span<float>(outf)), Catch::Contains("too many indices"));
}
