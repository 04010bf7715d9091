// The registry of rounding policies (sim/methods/rounding_policies.hpp): every policy is declared once,
// reads from its text form and from a config table alike, prints back to what it read, can be given to
// any role, and docs/training.md's table is the registry.
#include "formats/random_words.hpp"
#include "sim/methods/banner2018/range_rounding.hpp"
#include "sim/methods/rounding_policies.hpp"
#include "sim/methods/wageubn2019/wage_rounding.hpp"
#include "sim/nn/role.hpp"
#include "sim/train/config.hpp"

#include "error_of.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim;
using sim::methods::parse_role_rounding;
using sim::methods::RoundingPolicyType;
using sim::methods::rounding_policy_types;
using sim::nn::Role;
using sim::nn::RoleRounding;

namespace {

// One text form of each registered policy, and of a plain format (the element-wise policy).
const std::vector<std::string>& samples() {
  static const std::vector<std::string> s = {
      "fp8_e4m3",
      "scaled(format=int8,axis=1)",
      "affine(bits=6,signed=yes)",
      "mxfp8_e4m3",
      "mx(element=fp4_e2m1,block=16)",
      "current(format=fp8_e4m3)",
      "current(format=fp8_e5m2,margin=2,scale=e8m0)",
      "current(format=int8,scale=pow2,axis=1)",
      "delayed(format=fp8_e4m3,history=4,scale=pow2)",
      "delayed(format=fp8_e5m2,history=2,margin=1,amax=most_recent)",
      "range(bits=8)",
      "range(bits=6,range=sample_mean,new_weight=0.5,true_zero=yes)",
      "range(bits=8,range=sample_mean,new_weight=0.9,arithmetic=float32)",
      "direct(bits=8,clip=unit)",
      "shift(bits=8,clip=pm1)",
      "flag(bits=8)",
      "constant(bits=8,const_bits=12,gscale=32)",
  };
  return s;
}

std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = d(rng);
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Rounds a fresh copy of x with r (state for a policy that keeps one: a training step).
std::vector<float> rounded(const RoleRounding& r, std::vector<float> x, std::vector<float>& state) {
  sim::nn::PolicyState ps{4, true, state.data(), true};
  r.apply(x, 77, "t", 1, r.state_floats() > 0 ? &ps : nullptr, sim::Nchw{4, 8, 1, 1});
  return x;
}

}  // namespace

TEST_CASE("rounding policies: every type is registered once, and each sample names a registered type", "[policy][methods]") {
  std::vector<std::string> names = sim::methods::rounding_policy_names();
  CHECK(names.size() == rounding_policy_types().size());
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  std::vector<std::string> covered;
  for (const std::string& text : samples()) {
    INFO(text);
    if (const RoundingPolicyType* t = sim::methods::rounding_policy_type_of(text)) covered.emplace_back(t->name);
  }
  std::sort(covered.begin(), covered.end());
  covered.erase(std::unique(covered.begin(), covered.end()), covered.end());
  CHECK(covered == names);  // a new policy needs a sample here
  CHECK(sim::methods::rounding_policy_type_of("fp8_e4m3") == nullptr);
  CHECK(std::string(sim::methods::rounding_policy_type_of("mxint8")->name) == "mx");
}

TEST_CASE("rounding policies: the text form prints back to itself and rounds identically", "[policy][methods]") {
  const std::vector<float> x = random_values(32, 3);
  for (const std::string& text : samples()) {
    INFO(text);
    const RoleRounding r = parse_role_rounding(text);
    const RoleRounding back = parse_role_rounding(r.text(), r.rounding());
    CHECK(back.text() == r.text());
    CHECK(back.describe() == r.describe());
    CHECK(back.rounding() == r.rounding());
    std::vector<float> s1(static_cast<std::size_t>(r.state_floats())), s2(s1);
    const std::vector<float> a = rounded(r, x, s1), b = rounded(back, x, s2);
    CHECK(same_bits(a, b));
    CHECK(s1 == s2);
    if (!r.is_identity()) CHECK(!same_bits(a, x));  // it rounded something
  }
  // Texts print in their canonical spelling (defaults left out, spaces dropped).
  CHECK(parse_role_rounding("shift(bits=8,clip=unit)").text() == "shift(bits=8)");
  CHECK(parse_role_rounding(" range( bits = 8, range = tensor ) ").text() == "range(bits=8)");
  CHECK(parse_role_rounding("direct(bits=8,clip=none)").text() == "direct(bits=8)");
}

TEST_CASE("rounding policies: each type's default rounding, and the modes it refuses", "[policy][methods]") {
  CHECK(parse_role_rounding("constant(bits=8)").is_stochastic());  // WAGEUBN's G is stochastic by default
  CHECK_FALSE(parse_role_rounding("range(bits=8)").is_stochastic());
  CHECK_FALSE(parse_role_rounding("mxfp8_e4m3").is_stochastic());
  CHECK(parse_role_rounding("range(bits=8)", formats::RoundingSpec{formats::Rounding::sr, 32}).describe() == "range(bits=8) sr");
  CHECK_THROWS_AS(parse_role_rounding("shift(bits=8)", formats::RoundingSpec{formats::Rounding::sr, 32}), formats::FormatError);
  for (const RoundingPolicyType& t : rounding_policy_types()) {
    INFO(t.name);
    const std::vector<std::string> modes = sim::methods::rounding_mode_names(&t);
    CHECK(std::find(modes.begin(), modes.end(), formats::rounding_name(t.default_mode)) != modes.end());
  }
  CHECK(sim::methods::rounding_mode_names(nullptr).size() == std::size(formats::kAllRoundings));
}

TEST_CASE("rounding policies: a config table names any policy and passes its keys, for any role", "[policy][train]") {
  const sim::train::TrainConfig c = sim::train::parse_config(R"toml(
[formats]
W = { policy = "direct", bits = 8, clip = "unit" }
A = { policy = "range", bits = 8, range = "sample_mean", new_weight = 0.5 }
G = { policy = "constant", bits = 8, gscale = 32 }
E = { policy = "mx", format = "fp8_e5m2", block = 16, rounding = "sr", sr_bits = 8 }
DY = { quantizer = "range", true_zero = true, rounding = "sr" }
M = { policy = "shift", bits = 6 }
)toml",
                                                              "t.toml");
  auto role = [&](Role r) { return c.formats.roles[static_cast<std::size_t>(r)]->describe(); };
  CHECK(role(Role::W) == "direct(bits=8,clip=unit)");
  CHECK(role(Role::A) == "range(bits=8,range=sample_mean,new_weight=0.5)");
  CHECK(role(Role::G) == "constant(bits=8,gscale=32) sr");
  CHECK(role(Role::E) == "mx(element=fp8_e5m2,block=16) sr(R=8)");
  CHECK(role(Role::DY) == "range(bits=8,true_zero=yes) sr");  // the older spelling: bits 8 by default
  CHECK(role(Role::M) == "shift(bits=6)");
  // The resolved config reads back to the same roles.
  const std::string printed = sim::train::to_toml(c);
  CHECK(sim::train::to_toml(sim::train::parse_config(printed, "printed.toml")) == printed);

  auto error = [](const std::string& text) {
    return test::error_of<sim::train::ConfigError>([&] { (void)sim::train::parse_config("[formats]\n" + text + "\n", "bad.toml"); });
  };
  CHECK_THAT(error("A = { policy = \"range\" }"), Catch::Contains("key 'formats.A.bits'") && Catch::Contains("missing"));
  CHECK_THAT(error("A = { policy = \"range\", bits = 30 }"), Catch::Contains("key 'formats.A.bits'") && Catch::Contains("1..24"));
  CHECK_THAT(error("A = { policy = \"range\", bits = 8, range = \"batch\" }"), Catch::Contains("key 'formats.A.range'"));
  CHECK_THAT(error("A = { policy = \"range\", bits = 8, sr_bits = 8 }"), Catch::Contains("formats.A.sr_bits"));
  CHECK_THAT(error("A = { policy = \"range\", bits = 8, rounding = \"rtz\" }"), Catch::Contains("key 'formats.A.rounding'"));
  CHECK_THAT(error("G = { policy = \"constant\", bits = 8, gscale = 3 }"), Catch::Contains("formats.G") && Catch::Contains("power of two"));
  CHECK_THAT(error("W = { policy = \"direct\", bits = 8, clip = \"wide\" }"), Catch::Contains("key 'formats.W.clip'"));
  CHECK_THAT(error("W = { policy = \"flag\", bits = 8, clip = \"unit\" }"), Catch::Contains("key 'formats.W.clip'"));
  CHECK_THAT(error("W = { policy = \"ranges\", bits = 8 }"),
             Catch::Contains("key 'formats.W.policy'") && Catch::Contains("range") && Catch::Contains("constant"));
  CHECK_THAT(error("W = { policy = \"range\", quantizer = \"range\", bits = 8 }"), Catch::Contains("formats.W.quantizer"));
  CHECK_THAT(error("W = { policy = \"range\", bits = [8] }"), Catch::Contains("formats.W.bits"));
  CHECK_THAT(error("W = 8"), Catch::Contains("key 'formats.W'"));
}

TEST_CASE("rounding policies: docs/training.md's table of rounding policies is the registry", "[policy][docs]") {
  std::ifstream in(std::filesystem::path(BITSIM_SOURCE_DIR) / "docs/training.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::string table = sim::methods::rounding_policy_table();
  const std::size_t at = doc.find(table.substr(0, table.find('\n') + 1));
  REQUIRE(at != std::string::npos);
  const std::size_t end = doc.find("\n\n", at);
  INFO("the table rounding_policy_table() generates:\n" << table);
  CHECK(doc.substr(at, end - at + 1) == table);
}
