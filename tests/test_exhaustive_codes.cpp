// Every code of every format up to 16 bits: the fast decode equals the golden decode, values are
// ordered by code, and quantizing a code's value gives the code back in every rounding mode.
#include "format_corpus.hpp"

#include "formats/graham_tables.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <random>

using namespace bitsim::formats;
using bitsim::test::same_double;

namespace {

// Position of a finite value in the format's order (for checking that decoding is monotone).
struct Ordered {
  double value;
  std::uint64_t code;
};

}  // namespace

TEST_CASE("decode, encode round-trip and ordering over every code of formats up to 16 bits", "[exhaustive]") {
  std::size_t codes_checked = 0;
  for (const auto& spec : bitsim::test::small_formats()) {
    const Format f = parse_format(spec);
    INFO("format " << spec);
    const auto codes = bitsim::test::all_codes(f);
    REQUIRE(!codes.empty());
    const int w = f.width();
    std::vector<Quantizer> quantizers;
    for (Rounding m : bitsim::test::modes_for(f))
      if (m != Rounding::sr) quantizers.emplace_back(f, RoundingSpec{m, 32});
    quantizers.emplace_back(f, RoundingSpec{f.has_own_rounding() ? Rounding::rne : Rounding::sr, 7});
    const Quantizer& rne = quantizers.front();

    std::vector<Ordered> positives, negatives;
    std::size_t bad = 0;
    for (const auto& [code, g] : codes) {
      ++codes_checked;
      // fast decode == golden decode, bit for bit
      const double fast = rne.decode(code);
      if (!same_double(fast, g.value)) {
        UNSCOPED_INFO("decode 0x" << std::hex << code << std::dec << ": fast " << fast << " golden " << g.value);
        ++bad;
      }
      if (g.kind != ValueKind::finite) continue;
      // Round-trip: the value quantizes back to this code, exactly, in every mode (sr: any word).
      // Graham log values are irrational; their nearest double still lies in the code's interval.
      const bool exact_value = g.exact && rational_from_double(std::fabs(g.value)) == *g.exact;
      if (f.is<FloatFormat>() && !f.as<FloatFormat>().subnormals && g.value != 0 &&
          std::fabs(g.value) < std::ldexp(1.0, static_cast<int>(f.as<FloatFormat>().emin()))) {
        // A subnormal code of a flushing format: it decodes, but rounding flushes it to zero.
        const Quantized r = rne.quantize(g.value);
        if (r.value != 0 || r.flags != (flag::underflow | flag::inexact)) ++bad;
        continue;
      }
      for (const Quantizer& q : quantizers) {
        const Quantized r = q.quantize(g.value, 0x9E3779B9u);
        const bool code_ok = r.code && *r.code == code;
        const bool value_ok = same_double(r.value, g.value);
        const bool flags_ok = exact_value ? r.flags == 0 : true;
        if (!code_ok || !value_ok || !flags_ok) {
          UNSCOPED_INFO("round trip of code 0x" << std::hex << code << std::dec << " value " << g.value << " mode "
                                                << rounding_name(q.rounding().mode) << " gave code "
                                                << (r.code ? std::to_string(*r.code) : "none") << " value " << r.value
                                                << " flags " << int(r.flags));
          ++bad;
        }
      }
      const bool neg = f.is<MidriseFormat>() ? g.value < 0 : g.negative;
      (neg ? negatives : positives).push_back({g.value, code});
    }
    // Ordering: within each sign, a larger magnitude index (code) means a larger magnitude.
    auto check_order = [&](std::vector<Ordered>& v, bool descending_codes) {
      std::sort(v.begin(), v.end(), [&](const Ordered& a, const Ordered& b) {
        return descending_codes ? a.code > b.code : a.code < b.code;
      });
      for (std::size_t i = 1; i < v.size(); ++i)
        if (!(std::fabs(v[i].value) > std::fabs(v[i - 1].value)) && !(f.is<MidriseFormat>())) {
          UNSCOPED_INFO("order: code 0x" << std::hex << v[i].code << " value " << v[i].value << " not above code 0x"
                                         << v[i - 1].code << " value " << v[i - 1].value);
          ++bad;
        }
    };
    if (f.is<FixedFormat>() && f.as<FixedFormat>().is_signed) {
      // Two's complement: the code order of negatives is ascending in value too.
      std::vector<Ordered> all = negatives;
      all.insert(all.end(), positives.begin(), positives.end());
      std::sort(all.begin(), all.end(), [&](const Ordered& a, const Ordered& b) {
        auto key = [&](std::uint64_t c) { return static_cast<std::int64_t>(c << (64 - w)) >> (64 - w); };
        return key(a.code) < key(b.code);
      });
      for (std::size_t i = 1; i < all.size(); ++i)
        if (!(all[i].value > all[i - 1].value)) ++bad;
    } else if (f.is<MidriseFormat>()) {
      std::vector<Ordered> all = negatives;
      all.insert(all.end(), positives.begin(), positives.end());
      std::sort(all.begin(), all.end(), [](const Ordered& a, const Ordered& b) { return a.code < b.code; });
      for (std::size_t i = 1; i < all.size(); ++i)
        if (!(all[i].value > all[i - 1].value)) ++bad;
    } else {
      // Zeros are not ordered against each other: drop them before checking magnitudes.
      auto drop_zero = [](std::vector<Ordered>& v) { std::erase_if(v, [](const Ordered& o) { return o.value == 0; }); };
      drop_zero(positives);
      drop_zero(negatives);
      check_order(positives, false);
      check_order(negatives, false);
    }
    REQUIRE(bad == 0);
  }
  CHECK(codes_checked > 500000);
}

TEST_CASE("array encode and decode agree with the golden path over every code", "[exhaustive][arrays]") {
  for (const auto& spec : bitsim::test::small_formats()) {
    const Format f = parse_format(spec);
    INFO("format " << spec);
    const Quantizer q(f);
    std::vector<std::uint64_t> codes;
    std::vector<double> expected;
    std::vector<double> values;          // finite values that round-trip to their own code
    std::vector<std::uint64_t> value_codes;
    for (const auto& [code, g] : bitsim::test::all_codes(f)) {
      codes.push_back(code);
      expected.push_back(g.value);
      const bool flushed = f.is<FloatFormat>() && !f.as<FloatFormat>().subnormals && g.value != 0 &&
                           std::fabs(g.value) < std::ldexp(1.0, static_cast<int>(f.as<FloatFormat>().emin()));
      if (g.kind == ValueKind::finite && !flushed) {
        values.push_back(g.value);
        value_codes.push_back(code);
      }
    }
    std::vector<double> decoded(codes.size());
    q.decode(codes, decoded);
    for (std::size_t i = 0; i < codes.size(); ++i) REQUIRE(same_double(decoded[i], expected[i]));
    if (q.supports_float_arrays() && f.is_binary()) {
      std::vector<float> decoded_f(codes.size());
      q.decode(codes, std::span<float>(decoded_f));
      for (std::size_t i = 0; i < codes.size(); ++i) REQUIRE(same_double(decoded_f[i], static_cast<float>(expected[i])));
    }
    std::vector<std::uint64_t> encoded(values.size());
    q.encode(std::span<const double>(values), encoded);
    REQUIRE(encoded == value_codes);
  }
  // Codes outside the width, and codes a Graham format does not use, are errors.
  const Quantizer e4m3(parse_format("fp8_e4m3"));
  std::vector<std::uint64_t> bad = {1, 0x100};
  std::vector<double> out(2);
  REQUIRE_THROWS_AS(e4m3.decode(bad, out), QuantizeError);
  const Quantizer u5(parse_format("graham_U5"));
  std::vector<std::uint64_t> all32(32);
  std::iota(all32.begin(), all32.end(), 0);
  std::vector<double> out32(32);
  REQUIRE_NOTHROW(u5.decode(all32, out32));
  const Quantizer l3(parse_format("graham_L3"));  // 3 bits: sign + 2-bit index over 4 values: all used
  const Quantizer odd(parse_format("log(k=1,lo=0,hi=2,scale=1)"));  // 3 values in a 2-bit index: 0b11 unused
  std::vector<std::uint64_t> unused = {3};
  std::vector<double> out1(1);
  REQUIRE_THROWS_AS(odd.decode(unused, out1), QuantizeError);
  // A Graham zero has no code.
  std::vector<double> zero = {0.0};
  std::vector<std::uint64_t> zc(1);
  REQUIRE_THROWS_WITH(l3.encode(std::span<const double>(zero), zc), Catch::Contains("zero has no code"));
}

TEST_CASE("float-array encode of Graham formats equals the scalar quantizer at every threshold", "[exhaustive][arrays]") {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (const char* spec : {"graham_L2", "graham_L3", "graham_L4", "graham_L5", "graham_U4", "graham_U5", "graham_U8",
                           "graham_O4", "log(k=3,lo=-20,hi=20,scale=0.9)", "midrise(s=0.5,lo=-3,hi=3)"}) {
    INFO(spec);
    const Format f = parse_format(spec);
    const Quantizer q(f);
    // Each threshold and its float neighbours (both signs), random values, infinities and extremes;
    // more than one vector of lanes, and a tail.
    std::vector<float> in;
    for (float th : bitsim::formats::detail::build_graham_table<float>(f).th)
      for (float v : {th, std::nextafter(th, -INFINITY), std::nextafter(th, INFINITY)}) {
        in.push_back(v);
        in.push_back(-v);
      }
    for (int i = 0; i < 1000; ++i) in.push_back(nd(rng));
    for (float v : {INFINITY, -INFINITY, 3e38f, -3e38f, 1e-45f, -1e-45f}) in.push_back(v);
    if (f.is<MidriseFormat>()) in.push_back(0.0f), in.push_back(-0.0f);
    in.erase(std::remove_if(in.begin(), in.end(), [&](float v) { return v == 0 && !f.is<MidriseFormat>(); }), in.end());
    std::vector<std::uint64_t> codes(in.size());
    q.encode(std::span<const float>(in), codes);
    for (std::size_t i = 0; i < in.size(); ++i) {
      INFO("input " << in[i]);
      REQUIRE(codes[i] == q.quantize(static_cast<double>(in[i])).code.value());
    }
    // A NaN (or a zero for a format on |x|) anywhere still names its element.
    for (std::size_t at : {std::size_t{3}, in.size() - 1}) {
      std::vector<float> bad = in;
      bad[at] = f.is<MidriseFormat>() ? NAN : 0.0f;
      CHECK_THROWS_WITH(q.encode(std::span<const float>(bad), codes), Catch::Contains("element " + std::to_string(at)));
    }
  }
}
