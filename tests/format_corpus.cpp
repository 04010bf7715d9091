#include "format_corpus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

namespace bitsim::test {

using namespace bitsim::formats;

namespace {

std::vector<std::string> generated_small_formats() {
  std::vector<std::string> out;
  const char* specials[] = {"ieee", "fn", "fnuz", "none"};
  for (int e = 1; e <= 5; ++e)
    for (int m = 0; m <= 3; ++m)
      for (const char* sp : specials)
        for (const char* sub : {"yes", "no"}) {
          std::vector<std::string> overflows = {""};
          const bool ieee = std::string(sp) == "ieee";
          const bool has_nan = ieee ? m >= 1 : std::string(sp) != "none";
          if (ieee) overflows.push_back(",overflow=saturate");
          if (has_nan) overflows.push_back(",overflow=nan");
          // Formats without any finite non-zero value are refused by the parser (test_format_parse.cpp):
          // one exponent bit whose non-zero field is Inf/NaN (ieee) or NaN (fn, m = 0), with nothing
          // left in the subnormals.
          const bool fn = std::string(sp) == "fn", no_sub = std::string(sub) == "no";
          if (e == 1 && ((ieee && (m == 0 || no_sub)) || (fn && m == 0))) continue;
          for (const auto& ov : overflows)
            out.push_back(fmt::format("float(e={},m={},special={},subnormals={}{})", e, m, sp, sub, ov));
        }
  // Non-default biases, including ones that put the whole range far from 1.
  for (const char* b : {"0", "-3", "9", "30", "-20"}) {
    out.push_back(fmt::format("float(e=4,m=3,bias={})", b));
    out.push_back(fmt::format("float(e=3,m=2,bias={},special=fn,subnormals=no)", b));
  }
  out.push_back("float(e=6,m=9)");
  out.push_back("float(e=5,m=10,special=fn)");
  out.push_back("float(e=8,m=7,subnormals=no)");
  out.push_back("float(e=5,m=10,special=fnuz,overflow=nan)");
  // special=inuz (IEEE P3109's extended formats; the 8-bit ones are aliases) beyond its defaults.
  out.push_back("float(e=5,m=10,special=inuz)");
  out.push_back("float(e=3,m=2,special=inuz,subnormals=no,overflow=saturate)");
  out.push_back("float(e=4,m=3,special=inuz,overflow=nan,bias=3)");
  out.push_back("float(e=2,m=0,special=inuz)");
  out.push_back("float(e=1,m=2,special=inuz)");
  // Unsigned floats and P3109's SatPropagate beyond the aliases.
  out.push_back("float(e=3,m=2,special=none,signed=no,subnormals=no)");
  out.push_back("float(e=4,m=3,special=fnuz,signed=no,overflow=nan,bias=5)");
  // Formats without zero (code 0 is the smallest value; the alias e8m0 is one) of each special kind.
  out.push_back("float(e=3,m=2,bias=-1,special=none,signed=no,zero=no)");
  out.push_back("float(e=4,m=1,special=inuz,overflow=satpropagate,signed=no,zero=no)");
  out.push_back("float(e=4,m=3,special=inuz,overflow=satpropagate)");
  out.push_back("float(e=5,m=2,overflow=satpropagate,subnormals=no)");
  out.push_back("float(e=7,m=8,bias=100,special=none)");
  out.push_back("float(e=2,m=13,bias=-5)");
  // Normal ranges reaching below float's (emin = -127, -129): inputs that are float subnormals but the
  // format's normals (the vector kernels' fixed-shift fast path once took them).
  out.push_back("float(e=8,m=5,bias=128)");
  out.push_back("float(e=8,m=3,bias=130,special=fn)");
  // Fixed point.
  for (const char* spec : {"fixed(i=3,f=4)", "fixed(i=3,f=4,overflow=wrap)", "fixed(i=-2,f=6)", "fixed(i=10,f=-3)",
                           "fixed(i=0,f=7,signed=no)", "fixed(i=5,f=3,signed=no,overflow=wrap)", "fixed(i=2,f=13)",
                           "fixed(i=15,f=0,overflow=wrap)", "fixed(i=0,f=0)", "fixed(i=1,f=0,signed=no)",
                           "fixed(i=-4,f=9,signed=no)", "fixed(i=12,f=-8,overflow=wrap)"})
    out.push_back(spec);
  // Graham-style formats beyond the aliases.
  out.push_back("log(k=3,lo=-5,hi=6,scale=0.9,offset=0.2)");
  out.push_back("log(k=1,lo=-2,hi=-2,scale=1.5)");
  out.push_back("midrise(s=0.3,lo=-3,hi=4)");
  out.push_back("midrise(s=7,lo=0,hi=5)");
  out.push_back("midrise(s=1e-2,lo=-1000,hi=999)");
  return out;
}

}  // namespace

const std::vector<std::string>& small_formats() {
  static const std::vector<std::string> list = [] {
    std::vector<std::string> v;
    // The unsigned P3109 aliases by two representatives (tests/test_p3109.cpp checks them all): every
    // format here runs through the long fast-against-golden sweeps.
    for (const auto& a : format_aliases())
      if (parse_format(a.alias).width() <= 16 && (!a.alias.starts_with("binary8p") || a.alias[9] == 's' ||
                                                  a.alias == "binary8p3ue" || a.alias == "binary8p8uf"))
        v.push_back(a.alias);
    for (auto& s : generated_small_formats()) v.push_back(s);
    return v;
  }();
  return list;
}

const std::vector<std::string>& wide_formats() {
  static const std::vector<std::string> list = {
      "fp32", "fp64", "tf32", "int32", "float(e=8,m=23,subnormals=no)", "float(e=11,m=40,bias=2000,special=fn)",
      "float(e=10,m=20,special=fnuz,overflow=nan)", "float(e=11,m=40,special=inuz)", "fixed(i=20,f=30)", "fixed(i=-10,f=60,signed=no)",
      "fixed(i=40,f=-20,overflow=wrap)", "float(e=11,m=52,special=none)", "fixed(i=30,f=0,signed=no,overflow=wrap)"};
  return list;
}

std::vector<Rounding> modes_for(const Format& f) {
  if (f.has_own_rounding()) return {Rounding::rne};
  return {Rounding::rne, Rounding::rna, Rounding::rtz, Rounding::rup, Rounding::rdn, Rounding::sr};
}

std::vector<DecodedCode> all_codes(const Format& f) {
  std::vector<DecodedCode> out;
  const std::uint64_t n = std::uint64_t{1} << f.width();
  for (std::uint64_t c = 0; c < n; ++c) {
    try {
      out.push_back({c, golden_decode(f, BigInt(c))});
    } catch (const QuantizeError&) {
      // a code the Graham format does not use
    }
  }
  return out;
}

bool same_double(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  std::uint64_t x, y;
  std::memcpy(&x, &a, 8);
  std::memcpy(&y, &b, 8);
  return x == y;
}

std::vector<double> adversarial_inputs(const Format& f, std::size_t random_count, unsigned stride, unsigned seed) {
  std::set<double> finite_values;  // non-negative magnitudes the format can produce
  double largest = 0, smallest_pos = std::numeric_limits<double>::infinity();
  if (f.width() <= 16) {
    for (const auto& d : all_codes(f))
      if (d.g.kind == ValueKind::finite) {
        const double m = std::fabs(d.g.value);
        finite_values.insert(m);
        if (!f.is<MidriseFormat>()) {
          largest = std::max(largest, m);
          if (m > 0) smallest_pos = std::min(smallest_pos, m);
        }
        if (f.is<MidriseFormat>()) finite_values.insert(d.g.value);
      }
  } else {
    // Wide formats: sample values through the golden facts and powers of two.
    FormatFacts facts = golden_facts(f);
    largest = nearest_double(facts.largest_finite);
    smallest_pos = facts.smallest_subnormal ? nearest_double(*facts.smallest_subnormal) : nearest_double(*facts.smallest_normal);
    finite_values.insert(largest);
    finite_values.insert(smallest_pos);
    for (int k = -1074; k <= 1023; k += 7) finite_values.insert(std::ldexp(1.0, k));
  }
  std::vector<double> sorted(finite_values.begin(), finite_values.end());
  std::vector<double> in;
  auto add_around = [&](double v) {
    if (!std::isfinite(v)) return;
    in.push_back(v);
    double up = v, down = v;
    for (int k = 0; k < 2; ++k) {
      up = std::nextafter(up, HUGE_VAL);
      down = std::nextafter(down, -HUGE_VAL);
      in.push_back(up);
      in.push_back(down);
    }
  };
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (stride > 1 && i % stride != 0 && i + 1 != sorted.size() && i > 4) continue;
    add_around(sorted[i]);
    if (i + 1 < sorted.size()) {
      const double a = sorted[i], b = sorted[i + 1];
      const double mid = a + (b - a) / 2;  // exact when the format has fewer bits than double
      add_around(mid);
      std::uniform_real_distribution<double> between(a, b);
      in.push_back(between(rng));
    }
  }
  // Around the largest finite value and beyond it (overflow thresholds).
  if (largest > 0) {
    for (double k : {1.0, 1.0 + 1.0 / 64, 1.0 + 1.0 / 32, 1.0 + 1.0 / 16, 1.0 + 1.0 / 8, 1.0 + 3.0 / 16, 1.25, 1.5,
                     1.75, 2.0, 4.0, 1e10})
      add_around(largest * k);
    add_around(smallest_pos / 2);
    add_around(smallest_pos / 4);
    add_around(smallest_pos * 0.75);
    add_around(smallest_pos * 1.5);
  }
  // Graham decision boundaries.
  if (f.is<LogFormat>()) {
    const auto& lf = f.as<LogFormat>();
    for (std::int64_t j = lf.lo - 1; j <= lf.hi + 2; ++j)
      add_around(static_cast<double>(std::exp2(static_cast<long double>(j) / lf.k) / static_cast<long double>(static_cast<double>(lf.scale))));
  } else if (f.is<MidriseFormat>()) {
    const auto& mf = f.as<MidriseFormat>();
    const std::int64_t step = std::max<std::int64_t>(1, (mf.hi - mf.lo) / 64);
    for (std::int64_t j = mf.lo - 1; j <= mf.hi + 2; j += (j < mf.lo + 2 || j > mf.hi - 2) ? 1 : step)
      add_around(static_cast<double>(static_cast<long double>(j) / static_cast<long double>(static_cast<double>(mf.s))));
  } else if (f.is<O4Format>()) {
    for (int j = 0; j <= 9; ++j) add_around(static_cast<double>(std::pow(1.29L, j) - 1.0L));
  }
  for (double v : {0.0, std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::max(), 1.0, 0.5, 3.0, 1e-300, 1e300})
    add_around(v);
  // Random doubles over the format's binades and beyond.
  const double lo_exp = std::log2(std::max(smallest_pos, 1e-300)) - 4, hi_exp = std::log2(std::max(largest, 1e-300)) + 4;
  std::uniform_real_distribution<double> expo(lo_exp, hi_exp);
  for (std::size_t i = 0; i < random_count; ++i) in.push_back(std::exp2(expo(rng)));
  // Random bit patterns (every exponent of double).
  for (std::size_t i = 0; i < random_count / 4; ++i) {
    std::uint64_t bits = rng() & 0x7FFFFFFFFFFFFFFFull;
    double d;
    std::memcpy(&d, &bits, 8);
    if (std::isfinite(d)) in.push_back(d);
  }
  // Both signs, then the specials.
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) in.push_back(-in[i]);
  for (double s : {0.0, -0.0, HUGE_VAL, -HUGE_VAL, std::numeric_limits<double>::quiet_NaN()}) in.push_back(s);
  return in;
}

}  // namespace bitsim::test
