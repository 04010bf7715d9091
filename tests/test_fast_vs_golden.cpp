// The fast scalar path against the golden path, for every rounding mode, on adversarial inputs
// (values, their neighbours, exact ties and their neighbours, thresholds, subnormal boundaries,
// overflow, +-0, Inf, NaN) and random inputs.
#include "compare.hpp"
#include "format_corpus.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace bitsim::formats;
using bitsim::test::compare_fast_golden;

namespace {

// Random words for sr: the extremes and random ones.
std::vector<std::uint32_t> words_for(std::mt19937& rng) {
  return {0u, 0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu, static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng())};
}

std::size_t check_format(const std::string& spec, std::size_t random_count, unsigned stride, std::vector<std::string>& failures) {
  const Format f = parse_format(spec);
  const auto inputs = bitsim::test::adversarial_inputs(f, random_count, stride, 1234);
  std::mt19937 rng(99);
  std::size_t checked = 0;
  for (Rounding mode : bitsim::test::modes_for(f)) {
    const std::vector<int> bit_choices = mode == Rounding::sr ? std::vector<int>{32, 1, 5, 13} : std::vector<int>{32};
    for (int R : bit_choices) {
      const Quantizer q(f, RoundingSpec{mode, R});
      for (double x : inputs) {
        const auto words = mode == Rounding::sr ? words_for(rng) : std::vector<std::uint32_t>{0u};
        for (std::uint32_t w : words) {
          ++checked;
          if (auto diff = compare_fast_golden(q, x, w); diff && failures.size() < 10) failures.push_back(*diff);
        }
      }
    }
  }
  return checked;
}

}  // namespace

TEST_CASE("fast path equals golden path on adversarial inputs, formats up to 16 bits", "[fast][golden][slow]") {
  std::vector<std::string> failures;
  std::size_t checked = 0;
  for (const auto& spec : bitsim::test::small_formats()) {
    const unsigned stride = parse_format(spec).width() > 12 ? 61 : 1;
    checked += check_format(spec, 200, stride, failures);
  }
  INFO("inputs checked: " << checked);
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(checked > 1000000);
  REQUIRE(failures.empty());
}

TEST_CASE("fast path equals golden path on wide formats that fit a double", "[fast][golden][slow]") {
  std::vector<std::string> failures;
  std::size_t checked = 0;
  for (const auto& spec : bitsim::test::wide_formats()) checked += check_format(spec, 3000, 1, failures);
  INFO("inputs checked: " << checked);
  for (const auto& f : failures) UNSCOPED_INFO(f);
  REQUIRE(failures.empty());
}

TEST_CASE("formats wider than double are served by the golden path", "[golden]") {
  const Format f = parse_format("float(e=15,m=112)");
  const Quantizer q(f);
  CHECK_FALSE(q.scalar_is_fast());
  CHECK_FALSE(q.supports_double_arrays());
  // binary128 holds every double exactly.
  const GoldenResult third = golden_quantize(f, 1.0 / 3.0, {});
  CHECK(third.flags == 0);
  CHECK(third.value == 1.0 / 3.0);
  // 2^-1074 is normal in binary128: exponent field -1074 + 16383 = 15309, fraction 0.
  const GoldenResult small = golden_quantize(f, std::ldexp(1.0, -1074), {});
  CHECK(format_code(*small.code, 128) == format_code(BigInt(15309) << 112, 128));
  CHECK(small.value == std::ldexp(1.0, -1074));
  // The largest finite binary128 does not fit a double: it prints as inf, its code is exact.
  const GoldenResult big = golden_quantize(f, HUGE_VAL, {});
  CHECK(format_code(*big.code, 128) == format_code(((BigInt(1) << 15) - 1) << 112, 128));
  CHECK(big.value == HUGE_VAL);
}
