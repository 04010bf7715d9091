// Tensor policies (sim/tensor/tensor_policy.hpp): canonical printing, round trips, aliases, and errors that
// name the key, for every policy kind.
#include "sim/tensor/tensor_policy.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace bitsim::sim;
using bitsim::formats::FormatError;
using bitsim::formats::parse_format;

namespace {

// Parses `spec`, checks the canonical form and the name, and that both parse back to an equal policy
// whose canonical form is unchanged.
void round_trip(const std::string& spec, const std::string& canonical, const std::string& name) {
  INFO("spec: " << spec);
  const TensorPolicy p = parse_policy(spec);
  CHECK(p.to_string() == canonical);
  CHECK(p.name() == name);
  const TensorPolicy back = parse_policy(p.to_string());
  CHECK(back == p);
  CHECK(back.to_string() == canonical);
  const TensorPolicy by_name = parse_policy(p.name());
  CHECK(by_name == p);
  CHECK(by_name.name() == name);
}

// The message of the PolicyError/FormatError that parsing `spec` throws.
std::string error_of(const std::string& spec) {
  try {
    (void)parse_policy(spec);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("policy: element-wise formats print and round-trip", "[tensor][policy]") {
  round_trip("fp8_e4m3", "float(e=4,m=3,special=fn)", "fp8_e4m3");
  round_trip(" int8 ", "fixed(i=7,f=0)", "int8");
  round_trip("float(e=3, m=4)", "float(e=3,m=4)", "float(e=3,m=4)");
  round_trip("graham_O4", "graham_O4", "graham_O4");
  round_trip("graham_L4", "log(k=1,lo=-3,hi=4,scale=1.36)", "graham_L4");
  for (const auto& a : bitsim::formats::format_aliases()) {
    const TensorPolicy p = parse_policy(a.alias);
    CHECK(p.kind() == PolicyKind::elementwise);
    CHECK(p.format() == parse_format(a.alias));
    CHECK(parse_policy(p.to_string()) == p);
    CHECK_FALSE(p.has_scales());
  }
  CHECK(parse_policy("fp32") == TensorPolicy());
}

TEST_CASE("policy: scaled", "[tensor][policy]") {
  round_trip("scaled(format=int8,scale=pow2)", "scaled(format=fixed(i=7,f=0),scale=pow2)", "scaled(format=int8,scale=pow2)");
  round_trip("scaled( scale = real , format = fp8_e4m3 )", "scaled(format=float(e=4,m=3,special=fn),scale=real)",
             "scaled(format=fp8_e4m3,scale=real)");
  round_trip("scaled(format=float(e=4,m=3,special=fn),scale=pow2,axis=1)",
             "scaled(format=float(e=4,m=3,special=fn),scale=pow2,axis=1)",
             "scaled(format=float(e=4,m=3,special=fn),scale=pow2,axis=1)");
  round_trip("scaled(axis=0,format=fixed(i=3,f=4,signed=no),scale=real)",
             "scaled(format=fixed(i=3,f=4,signed=no),scale=real,axis=0)",
             "scaled(format=fixed(i=3,f=4,signed=no),scale=real,axis=0)");
  const TensorPolicy p = parse_policy("scaled(format=fp16,scale=real,axis=3)");
  CHECK(p.kind() == PolicyKind::scaled);
  CHECK(p.scale_rule() == ScaleRule::real);
  CHECK(p.axis() == 3);
  CHECK(p.format() == parse_format("fp16"));
  CHECK(p == TensorPolicy::scaled(parse_format("float(e=5,m=10)"), ScaleRule::real, 3));
  CHECK_FALSE(p == parse_policy("scaled(format=fp16,scale=real,axis=2)"));
  CHECK_FALSE(p == parse_policy("scaled(format=fp16,scale=pow2,axis=3)"));
}

TEST_CASE("policy: affine", "[tensor][policy]") {
  round_trip("affine(bits=8)", "affine(bits=8)", "affine(bits=8)");
  round_trip("affine(bits=8,signed=no)", "affine(bits=8)", "affine(bits=8)");
  round_trip("affine(signed=yes, axis=1, bits=4)", "affine(bits=4,signed=yes,axis=1)", "affine(bits=4,signed=yes,axis=1)");
  const TensorPolicy u = parse_policy("affine(bits=8)");
  CHECK(u.qmin() == 0);
  CHECK(u.qmax() == 255);
  CHECK(u.format() == parse_format("uint8"));
  const TensorPolicy s = parse_policy("affine(bits=8,signed=yes)");
  CHECK(s.qmin() == -128);
  CHECK(s.qmax() == 127);
  CHECK(s.format() == parse_format("int8"));
  CHECK(parse_policy("affine(bits=32,signed=yes)").qmin() == -2147483648LL);
  CHECK(parse_policy("affine(bits=1)").qmax() == 1);
}

TEST_CASE("policy: mx and its aliases", "[tensor][policy]") {
  round_trip("mxfp8_e4m3", "mx(element=float(e=4,m=3,special=fn))", "mxfp8_e4m3");
  round_trip("mxfp8_e5m2", "mx(element=float(e=5,m=2,overflow=saturate))", "mxfp8_e5m2");
  round_trip("mxfp6_e3m2", "mx(element=float(e=3,m=2,special=none))", "mxfp6_e3m2");
  round_trip("mxfp6_e2m3", "mx(element=float(e=2,m=3,special=none))", "mxfp6_e2m3");
  round_trip("mxfp4_e2m1", "mx(element=float(e=2,m=1,special=none))", "mxfp4_e2m1");
  round_trip("mxint8", "mx(element=fixed(i=1,f=6))", "mxint8");
  round_trip("mx(element=fp8_e4m3,block=32)", "mx(element=float(e=4,m=3,special=fn))", "mx(element=fp8_e4m3)");
  round_trip("mx(block=16,element=fp8_e5m2)", "mx(element=float(e=5,m=2,overflow=saturate),block=16)",
             "mx(element=fp8_e5m2,block=16)");
  CHECK(parse_policy("mx(element=fp8_e4m3,block=32)") == parse_policy("mxfp8_e4m3"));
  CHECK(parse_policy("mx(element=fp8_e5m2)") == parse_policy("mx(element=float(e=5,m=2,overflow=nan))"));
  CHECK_FALSE(parse_policy("mx(element=fp8_e4m3,block=16)") == parse_policy("mxfp8_e4m3"));
  // emax_elem: the exponent of the element's largest normal (OCP MX v1.0 table).
  CHECK(parse_policy("mxfp8_e4m3").emax_elem() == 8);
  CHECK(parse_policy("mxfp8_e5m2").emax_elem() == 15);
  CHECK(parse_policy("mxfp6_e3m2").emax_elem() == 4);
  CHECK(parse_policy("mxfp6_e2m3").emax_elem() == 2);
  CHECK(parse_policy("mxfp4_e2m1").emax_elem() == 2);
  CHECK(parse_policy("mxint8").emax_elem() == 0);
  CHECK(parse_policy("mxint8").format().width() == 8);
  CHECK(parse_policy("mxfp4_e2m1").block() == 32);
  CHECK(policy_aliases().size() == 6);
  for (const auto& a : policy_aliases()) CHECK(parse_policy(a.alias) == parse_policy(a.meaning));
}

TEST_CASE("policy: errors name the key", "[tensor][policy]") {
  using Catch::Matchers::Contains;
  // scaled
  // scale is optional (pow2), as in the config's table form: one declaration of the defaults.
  CHECK(parse_policy("scaled(format=int8)") == parse_policy("scaled(format=int8,scale=pow2)"));
  CHECK_THAT(error_of("scaled(scale=pow2)"), Contains("missing required key 'format'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=log)"), Contains("key 'scale'"));
  CHECK_THAT(error_of("scaled(format=int7,scale=pow2)"), Contains("key 'format'"));
  CHECK_THAT(error_of("scaled(format=float(e=4),scale=pow2)"), Contains("key 'format'"));
  CHECK_THAT(error_of("scaled(format=graham_L4,scale=pow2)"), Contains("key 'format'"));
  CHECK_THAT(error_of("scaled(format=float(e=15,m=10),scale=pow2)"), Contains("key 'format'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=pow2,axis=4)"), Contains("key 'axis'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=pow2,axis=-1)"), Contains("key 'axis'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=pow2,axis=one)"), Contains("key 'axis'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=pow2,bogus=1)"), Contains("unknown key 'bogus'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=pow2,scale=real)"), Contains("repeated key 'scale'"));
  CHECK_THAT(error_of("scaled(format=int8,scale=)"), Contains("key 'scale'"));
  CHECK_THAT(error_of("scaled(format=int8,,scale=pow2)"), Contains("malformed"));
  CHECK_THAT(error_of("scaled(format=float(e=4,m=3,scale=pow2)"), Contains("unbalanced"));
  CHECK_THAT(error_of("scaled"), Contains("scaled"));
  // affine
  CHECK(parse_policy("affine()") == parse_policy("affine(bits=8,signed=no)"));  // the defaults
  CHECK_THAT(error_of("affine(bits=0)"), Contains("key 'bits'"));
  CHECK_THAT(error_of("affine(bits=33)"), Contains("key 'bits'"));
  CHECK_THAT(error_of("affine(bits=8.5)"), Contains("key 'bits'"));
  CHECK_THAT(error_of("affine(bits=8,signed=maybe)"), Contains("key 'signed'"));
  CHECK_THAT(error_of("affine(bits=8,axis=9)"), Contains("key 'axis'"));
  CHECK_THAT(error_of("affine(bits=8,format=int8)"), Contains("unknown key 'format'"));
  // mx
  CHECK_THAT(error_of("mx(block=32)"), Contains("missing required key 'element' (or 'format')"));
  CHECK(parse_policy("mx(format=fp8_e4m3)") == parse_policy("mx(element=fp8_e4m3,block=32)"));  // the table spelling
  CHECK_THAT(error_of("mx(element=fp8_e4m3,format=fp8_e5m2)"), Contains("give 'element' or 'format', not both"));
  CHECK_THAT(error_of("mx(element=graham_U4)"), Contains("key 'element'"));
  CHECK_THAT(error_of("mx(element=fp8)"), Contains("key 'element'"));
  CHECK_THAT(error_of("mx(element=fp8_e4m3,block=0)"), Contains("key 'block'"));
  CHECK_THAT(error_of("mx(element=fp8_e4m3,block=x)"), Contains("key 'block'"));
  CHECK_THAT(error_of("mx(element=fp8_e4m3,axis=1)"), Contains("unknown key 'axis'"));
  // plain format names: the formats library's errors
  CHECK_THAT(error_of("fp7"), Contains("fp7"));
  CHECK_THAT(error_of("float(e=4,m=3,special=odd)"), Contains("key 'special'"));
  CHECK_THAT(error_of(""), Contains("empty"));
  CHECK_THROWS_AS(parse_policy("scaled(scale=pow2)"), PolicyError);
  // factories check the same ranges
  CHECK_THROWS_AS(TensorPolicy::affine(0), PolicyError);
  CHECK_THROWS_AS(TensorPolicy::mx(parse_format("fp8_e4m3"), 0), PolicyError);
  CHECK_THROWS_AS(TensorPolicy::scaled(parse_format("graham_U4"), ScaleRule::pow2), PolicyError);
  CHECK_THROWS_AS(TensorPolicy::elementwise(parse_format("float(e=15,m=112)")), PolicyError);
}

TEST_CASE("policy: one declaration of each constructor serves the text form and the argument map", "[tensor][policy]") {
  // The config's table form passes its keys as an argument map; both forms give equal policies and
  // the same defaults.
  CHECK(policy_from_arguments("mx", {{"format", "fp8_e4m3"}}) == parse_policy("mx(element=fp8_e4m3,block=32)"));
  CHECK(policy_from_arguments("scaled", {{"format", "int8"}, {"axis", "0"}}) == parse_policy("scaled(format=int8,scale=pow2,axis=0)"));
  CHECK(policy_from_arguments("affine", {{"bits", "6"}, {"signed", "yes"}}) == parse_policy("affine(bits=6,signed=yes)"));
  CHECK(policy_constructor_names() == std::vector<std::string>{"scaled", "affine", "mx"});
  CHECK(policy_table_key("mx", "element") == "format");
  CHECK(policy_table_key("scaled", "scale") == "scale");
  // Errors carry the offending argument in site().key, so the config can name its table key.
  for (const auto& [spec, key] : std::vector<std::pair<std::string, std::string>>{
           {"mx(element=fp8_e4m3,block=0)", "block"}, {"affine(bits=40)", "bits"}, {"scaled(format=int8,axis=7)", "axis"},
           {"scaled(format=int8,scale=log)", "scale"}, {"mx(block=8)", "element"}, {"affine(bits=8,bogus=1)", "bogus"}}) {
    INFO(spec);
    try {
      (void)parse_policy(spec);
      FAIL("no PolicyError");
    } catch (const PolicyError& e) {
      CHECK(e.site().key == key);
    }
  }
  CHECK_THROWS_AS(policy_from_arguments("blocked", {}), PolicyError);
}
