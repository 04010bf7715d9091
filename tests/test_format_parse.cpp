// Format names: parsing, validation errors that name the key, and print/parse round trip.
#include "format_corpus.hpp"

#include "formats/format.hpp"
#include "formats/golden.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

using namespace bitsim::formats;

TEST_CASE("every alias parses to its constructor and round-trips", "[parse]") {
  for (const auto& a : format_aliases()) {
    const Format f = parse_format(a.alias);
    CHECK(f.alias() == a.alias);
    if (a.alias != "graham_O4") {
      CHECK(f.to_string() == a.meaning);
      CHECK(parse_format(a.meaning) == f);
    }
    CHECK(parse_format(f.to_string()) == f);
  }
}

TEST_CASE("constructor forms round-trip through their canonical text", "[parse]") {
  for (const auto& spec : bitsim::test::small_formats()) {
    const Format f = parse_format(spec);
    INFO(spec << " -> " << f.to_string());
    CHECK(parse_format(f.to_string()) == f);
    CHECK(parse_format(f.to_string()).to_string() == f.to_string());
  }
  // Keys in any order, spaces ignored, defaults made explicit.
  CHECK(parse_format(" float( m = 3 , e = 4 , special = fn ) ") == parse_format("fp8_e4m3"));
  CHECK(parse_format("float(e=5,m=2,bias=15,subnormals=yes,special=ieee,overflow=inf)").to_string() == "float(e=5,m=2)");
  CHECK(parse_format("float(e=4,m=3,special=fnuz)").as<FloatFormat>().bias == 8);
  CHECK(parse_format("log(k=1,lo=-3,hi=4,scale=1.360)") == parse_format("graham_L4"));
  CHECK(parse_format("fixed(i=-3,f=10)").width() == 8);
  CHECK(parse_format("log(k=1,lo=0,hi=0,scale=1)").width() == 1);
  CHECK(parse_format("graham_L5").width() == 5);
  CHECK(parse_format("graham_U8").width() == 8);
  CHECK(parse_format("float(e=15,m=112)").width() == 128);
}

TEST_CASE("invalid format names are errors that name the key", "[parse][errors]") {
  auto error_of = [](const std::string& spec) -> std::string {
    try {
      (void)parse_format(spec);
    } catch (const FormatError& e) {
      return e.what();
    }
    return "(no error)";
  };
  using Catch::Contains;
  CHECK_THAT(error_of("float(e=4)"), Contains("'m'"));
  CHECK_THAT(error_of("float(e=4,m=3,e=2)"), Contains("repeated key 'e'"));
  CHECK_THAT(error_of("float(e=4,m=3,x=1)"), Contains("unknown key 'x'"));
  CHECK_THAT(error_of("float(e=0,m=3)"), Contains("'e'"));
  CHECK_THAT(error_of("float(e=16,m=3)"), Contains("'e'"));
  CHECK_THAT(error_of("float(e=4,m=113)"), Contains("'m'"));
  CHECK_THAT(error_of("float(e=4,m=3,special=fn,overflow=inf)"), Contains("'overflow'"));
  CHECK_THAT(error_of("float(e=4,m=0,overflow=nan)"), Contains("'overflow'"));
  CHECK_THAT(error_of("float(e=3,m=2,special=none,overflow=nan)"), Contains("'overflow'"));
  CHECK_THAT(error_of("float(e=4,m=3,subnormals=maybe)"), Contains("'subnormals'"));
  CHECK_THAT(error_of("float(e=4.0,m=3)"), Contains("'e'"));
  CHECK_THAT(error_of("fixed(i=40,f=40)"), Contains("width"));
  CHECK_THAT(error_of("fixed(i=-1,f=0)"), Contains("width"));
  CHECK_THAT(error_of("fixed(i=7,f=0,signed=maybe)"), Contains("'signed'"));
  CHECK_THAT(error_of("log(k=0,lo=-1,hi=1,scale=1)"), Contains("'k'"));
  CHECK_THAT(error_of("log(k=1,lo=2,hi=1,scale=1)"), Contains("'hi'"));
  CHECK_THAT(error_of("log(k=1,lo=-1,hi=1,scale=0)"), Contains("'scale'"));
  CHECK_THAT(error_of("log(k=1,lo=-1,hi=1,scale=1/2)"), Contains("'scale'"));
  CHECK_THAT(error_of("log(k=1,lo=-1,hi=1,scale=0x2)"), Contains("'scale'"));
  CHECK_THAT(error_of("midrise(s=2,lo=3,hi=3)"), Contains("'hi'"));
  CHECK_THAT(error_of("fp8"), Contains("unknown format"));
  CHECK_THAT(error_of("Float(e=4,m=3)"), Contains("unknown format constructor"));
  CHECK_THAT(error_of("float(e=4,m=3"), Contains("unknown format"));
  CHECK_THAT(error_of("float(e=4,,m=3)"), Contains("malformed"));
  CHECK_THAT(error_of(""), Contains("empty"));
}

// A format must hold a finite non-zero value. Whether one does is found here without the parser's rule:
// the format is built directly and every power of two from 2^-70 to 2^70 is rounded to it (a format
// without zero: every code but the specials is such a value, by its definition).
TEST_CASE("formats without a finite non-zero value are refused, the rest are described consistently", "[parse][errors]") {
  int refused = 0, kept_without_normals = 0;
  enum Kind { signed_float, unsigned_float, without_zero };
  for (const Kind kind : {signed_float, unsigned_float, without_zero})
  for (int e = 1; e <= 3; ++e)
    for (int m = 0; m <= 3; ++m)
      for (const Special sp : {Special::ieee, Special::fn, Special::fnuz, Special::none, Special::inuz})
        for (const bool sub : {true, false}) {
          if (kind != signed_float && (sp == Special::ieee || sp == Special::fn)) continue;  // no unsigned spelling
          if (kind == without_zero && sub) continue;                                         // it has no subnormals
          FloatFormat ff;
          ff.e = e;
          ff.m = m;
          ff.special = sp;
          ff.subnormals = sub;
          ff.is_signed = kind == signed_float;
          ff.has_zero = kind != without_zero;
          const bool one_nan = sp == Special::fnuz || sp == Special::inuz;
          ff.bias = one_nan ? std::int64_t{1} << (e - 1) : (std::int64_t{1} << (e - 1)) - 1;
          ff.overflow = sp == Special::ieee || sp == Special::inuz ? FloatOverflow::inf : FloatOverflow::saturate;
          const Format direct{FormatVariant(ff)};
          bool has_nonzero = false;
          if (kind == without_zero)
            has_nonzero = (1 << (e + m)) > (sp == Special::inuz ? 2 : sp == Special::fnuz ? 1 : 0);
          for (int k = -70; k <= 70 && !has_nonzero && kind != without_zero; ++k) {
            const GoldenResult g = golden_quantize(direct, std::ldexp(1.0, k), {Rounding::rne, 32});
            has_nonzero = g.kind == ValueKind::finite && g.value != 0;
          }
          const std::string spec = direct.to_string();
          INFO(spec);
          if (!has_nonzero) {
            ++refused;
            CHECK_THROWS_WITH(parse_format(spec), Catch::Contains("no finite non-zero value"));
            continue;
          }
          const Format f = parse_format(spec);
          CHECK(f == direct);
          const FormatFacts facts = golden_facts(f);
          // A normal number exists exactly when the largest finite value reaches 2^emin; then the
          // smallest normal and epsilon are stated, else neither is.
          const bool normals = facts.largest_finite >= pow2(ff.emin());
          CHECK(facts.smallest_normal.has_value() == normals);
          CHECK(facts.epsilon.has_value() == normals);
          if (normals) CHECK(*facts.smallest_normal <= facts.largest_finite);
          if (!normals) ++kept_without_normals;
          if (facts.smallest_subnormal) CHECK(*facts.smallest_subnormal <= facts.largest_finite);
          // The golden grid's +Inf and canonical NaN codes (what `formats describe` prints) equal
          // FloatFormat's own, computed separately.
          CHECK(facts.inf_code.has_value() == ff.has_inf());
          if (facts.inf_code) CHECK(*facts.inf_code == BigInt(ff.inf_index()));
          CHECK(facts.nan_code.has_value() == ff.has_nan());
          if (facts.nan_code) CHECK(*facts.nan_code == BigInt(ff.nan_code()));
        }
  // Signed, e=1: ieee with m=0 (2) or m=1..3 without subnormals (3); fn and inuz with m=0 (2 each).
  // Unsigned, e=1: fnuz and inuz with m=0 (zero and NaN, or +Inf and NaN; 2 each), inuz with m=1
  // without subnormals (its one finite non-zero code is a subnormal). Without zero: inuz, e=1, m=0.
  CHECK(refused == 9 + 5 + 1);
  // e=1, m=1..3 with subnormals: ieee signed (only subnormal values); inuz unsigned with m=1.
  CHECK(kept_without_normals == 3 + 1);
}

TEST_CASE("log formats: the root order k * denominator(offset) is at most 64, and order 64 is served exactly", "[parse][graham]") {
  // Refused, naming the key (the fuzzer's findings: these took seconds, or never finished, to compile).
  CHECK_THROWS_WITH(parse_format("log(k=65,lo=-5,hi=9,scale=1.36)"), Catch::Contains("k") && Catch::Contains("1..64"));
  CHECK_THROWS_WITH(parse_format("log(k=417,lo=-5,hi=9,scale=12177)"), Catch::Contains("k"));
  CHECK_THROWS_WITH(parse_format("log(k=1,lo=0,hi=1,scale=1,offset=0.1234567)"),
                    Catch::Contains("offset") && Catch::Contains("10000000"));
  CHECK_THROWS_WITH(parse_format("log(k=64,lo=0,hi=1,scale=1,offset=0.5)"), Catch::Contains("offset") && Catch::Contains("128"));
  CHECK_NOTHROW(parse_format("log(k=32,lo=0,hi=1,scale=1,offset=0.5)"));  // order 64
  // Exponents offset + n/k within +-16384.
  CHECK_THROWS_WITH(parse_format("log(k=1,lo=-1,hi=0,scale=14,offset=044444444444444444444444444444.5)"), Catch::Contains("offset"));
  CHECK_THROWS_WITH(parse_format("log(k=1,lo=1099511627770,hi=1099511627776,scale=1)"), Catch::Contains("hi"));
  CHECK_THROWS_WITH(parse_format("log(k=2,lo=-32770,hi=0,scale=1)"), Catch::Contains("lo"));
  CHECK_NOTHROW(parse_format("log(k=2,lo=-32768,hi=32768,scale=1)"));
  // Order 64 with 4001 indices gets its table (at most 4096 indices), whose values and thresholds must
  // equal the golden path's: sampled codes decode and sampled inputs quantize alike.
  const Format f = parse_format("log(k=64,lo=-2000,hi=2000,scale=1.36)");
  const Quantizer q(f);
  for (const std::int64_t n : {-2000, -1999, -1000, -1, 0, 1, 63, 64, 65, 1000, 1999, 2000}) {
    const std::uint64_t code = static_cast<std::uint64_t>(n + 2000);
    INFO("index " << n);
    CHECK(q.decode(code) == golden_decode(f, BigInt(code)).value);
  }
  for (const double x : {1e-9, 0.001, 0.5, 0.7352941176470589, 1.0, 3.0, 1e6, 1e9}) {
    INFO("x = " << x);
    CHECK(q.quantize(x).value == golden_quantize(f, x, {}).value);
    CHECK(q.quantize(-x).code == golden_quantize(f, -x, {}).code->convert_to<std::uint64_t>());
  }
}
