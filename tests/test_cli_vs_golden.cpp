// `bitsim quantize` (the program, through a pipe) agrees with the golden path on 10^6 random inputs
// per format.
#include "compare.hpp"
#include "format_corpus.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

using namespace bitsim::formats;

namespace {

// Random doubles around a format's range: mostly within it, some far outside, some tiny.
std::vector<double> random_inputs(std::size_t n, double lo_exp, double hi_exp, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> e(lo_exp, hi_exp);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    double x = std::exp2(e(rng));
    if (i % 97 == 0) x = std::ldexp(1.0, static_cast<int>(rng() % 2000) - 1000);  // far out
    v[i] = (rng() & 1) ? -x : x;
  }
  return v;
}

}  // namespace

TEST_CASE("bitsim quantize agrees with the golden path on 10^6 random inputs per format", "[cli][golden][slow]") {
  struct Case {
    const char* spec;
    const char* rounding;
    double lo_exp, hi_exp;
  };
  const Case cases[] = {
      {"fp8_e4m3", "rne", -12, 10}, {"fp8_e5m2", "rtz", -18, 17}, {"bf16", "rne", -135, 130},
      {"fp16", "rup", -26, 17},     {"int8", "rne", -3, 9},        {"graham_L4", "rne", -6, 6},
      {"fp8_e4m3", "sr", -12, 10},  {"fixed(i=3,f=4,overflow=wrap)", "rdn", -6, 5},
  };
  const std::size_t N = 1000000;
  for (const Case& c : cases) {
    const Format f = parse_format(c.spec);
    const RoundingSpec rs{*parse_rounding(c.rounding), 32};
    const auto inputs = random_inputs(N, c.lo_exp, c.hi_exp, 42);
    const std::string in_path = "cli_vs_golden_in.txt", out_path = "cli_vs_golden_out.txt";
    {
      std::ofstream out(in_path);
      char buf[64];
      for (double x : inputs) {
        std::snprintf(buf, sizeof buf, "%a\n", x);
        out << buf;
      }
    }
    const std::string cmd = std::string(BITSIM_BINARY) + " quantize --format '" + c.spec + "' --rounding " + c.rounding +
                            " --flags" + (rs.mode == Rounding::sr ? " --seed 7" : "") + " < " + in_path + " > " + out_path;
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream got(out_path);
    const PhiloxWords philox(7);
    std::string line;
    std::size_t i = 0, bad = 0;
    const int w = f.width();
    while (std::getline(got, line)) {
      REQUIRE(i < inputs.size());
      const GoldenResult g = golden_quantize(f, inputs[i], rs, rs.mode == Rounding::sr ? philox.word(i) : 0u);
      const std::string expected = fmt::format("{}\t{}\t{:02x}", g.code ? format_code(*g.code, w) : "none",
                                               format_hex_value(g.value), g.flags);
      if (line != expected) {
        if (bad < 5) UNSCOPED_INFO(c.spec << " input " << format_hex_value(inputs[i]) << ": got '" << line << "' expected '" << expected << "'");
        ++bad;
      }
      ++i;
    }
    INFO(c.spec << " " << c.rounding);
    CHECK(i == inputs.size());
    REQUIRE(bad == 0);
    std::remove(in_path.c_str());
    std::remove(out_path.c_str());
  }
}
