// Tensor policies (scaled, affine, MX) as training roles (sim/nn/role.hpp): an MX role against an
// oracle written from the OCP MX rule with the formats library alone (blocks along the channel axis of
// an NCHW tensor, E8M0 scales, saturating elements, stochastic-rounding words in channel-last order);
// scaled and affine roles against sim::Tensor on the NCHW shape; the config spellings (string and
// table forms, round trip through to_toml) and their errors.
#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "sim/nn/role.hpp"
#include "sim/tensor/tensor.hpp"
#include "sim/train/config.hpp"

#include "random_values.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace bitsim;
using bitsim::formats::Rounding;
using bitsim::formats::RoundingSpec;
using sim::Nchw;
using sim::nn::RoleRounding;

namespace {

// The OCP MX rule for element (n, k, h, w) of an NCHW tensor, written out: its block is channels
// [32 b, 32 b + 32) at (n, h, w); X = 2^e with e = clamp(floor(log2(amax)) - emax, -127, 127), emax = 8
// for E4M3; value = Q(x / X) * X, Q rounding to E4M3 with saturation (word: the element's index in
// channel-last order, for sr).
std::vector<float> mx_oracle(const std::vector<float>& x, Nchw s, int block, const formats::Format& element, RoundingSpec r,
                             std::uint64_t seed) {
  const formats::Quantizer q(element, r);
  const formats::PhiloxWords words(seed);
  const std::int64_t inner = s.h * s.w;
  std::vector<float> out(x.size());
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t i = 0; i < inner; ++i)
      for (std::int64_t k0 = 0; k0 < s.c; k0 += block) {
        const std::int64_t k1 = std::min(s.c, k0 + block);
        double amax = 0;
        for (std::int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(double(x[static_cast<std::size_t>((n * s.c + k) * inner + i)])));
        int e = amax == 0 ? -127 : std::clamp(static_cast<int>(std::floor(std::log2(amax))) - 8, -127, 127);
        for (std::int64_t k = k0; k < k1; ++k) {
          const auto at = static_cast<std::size_t>((n * s.c + k) * inner + i);
          const std::uint64_t word_index = static_cast<std::uint64_t>((n * inner + i) * s.c + k);
          const double v = q.quantize(std::ldexp(double(x[at]), -e), words.word(word_index)).value;
          out[at] = static_cast<float>(std::ldexp(v, e));
        }
      }
  return out;
}

bool identical(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      UNSCOPED_INFO("first difference at element " << i << ": " << a[i] << " vs " << b[i]);
      return false;
    }
  return true;
}

}  // namespace

TEST_CASE("role policy: MX blocks run along the channel axis with E8M0 scales and saturating E4M3", "[nn][policy]") {
  const sim::TensorPolicy policy = sim::parse_policy("mxfp8_e4m3");
  const formats::Format& element = policy.format();  // E4M3 with saturation
  CHECK(formats::Quantizer(element).quantize(1e6).value == 448);
  for (const Nchw s : {Nchw{2, 40, 3, 2}, Nchw{3, 64, 1, 1}, Nchw{16, 3, 3, 3}, Nchw{1, 10, 1, 1}, Nchw{2, 33, 2, 1}}) {
    for (const RoundingSpec r : {RoundingSpec{}, RoundingSpec{Rounding::sr, 8}, RoundingSpec{Rounding::rtz}}) {
      INFO("shape " << s.to_string() << ", rounding " << formats::rounding_name(r.mode));
      const RoleRounding role = RoleRounding::tensor_policy(policy, r);
      CHECK(sim::nn::tensor_policy_of(role) != nullptr);
      CHECK_FALSE(role.is_identity());
      CHECK_FALSE(role.values_are_codes());
      std::vector<float> x = test::random_values(static_cast<std::size_t>(s.numel()), 17, 6.0);
      x[3] = 0;
      const std::uint64_t seed = 0x1234567;
      const std::vector<float> want = mx_oracle(x, s, 32, element, r, seed);
      std::vector<float> got = x;
      role.apply(got, seed, "test", 1, nullptr, s);
      CHECK(identical(got, want));
      // Another thread count, and the same call again (a reused tensor): the same bits.
      std::vector<float> again = x;
      role.apply(again, seed, "test", 2, nullptr, s);
      CHECK(identical(again, want));
    }
  }
  SECTION("a block of zeros, huge and tiny blocks") {
    const Nchw s{1, 64, 1, 1};
    std::vector<float> x(64, 0.0f);
    for (int k = 32; k < 64; ++k) x[static_cast<std::size_t>(k)] = std::ldexp(1.0f + k / 64.0f, k < 48 ? 120 : -140);
    const RoleRounding role = RoleRounding::tensor_policy(policy, {});
    std::vector<float> got = x;
    role.apply(got, 1, "test", 1, nullptr, s);
    CHECK(identical(got, mx_oracle(x, s, 32, element, {}, 1)));
    for (int k = 0; k < 32; ++k) CHECK(got[static_cast<std::size_t>(k)] == 0);
  }
  SECTION("a span whose size differs from the shape is one row") {
    const std::vector<float> x = test::random_values(70, 5, 3.0);
    std::vector<float> got = x;
    RoleRounding::tensor_policy(policy, {}).apply(got, 1, "test", 1, nullptr, Nchw{});
    CHECK(identical(got, mx_oracle(x, Nchw{1, 70, 1, 1}, 32, element, {}, 1)));
  }
}

TEST_CASE("role policy: stochastic MX rounding is reproducible and keyed by the seed", "[nn][policy]") {
  const RoleRounding role = RoleRounding::tensor_policy(sim::parse_policy("mx(element=fp8_e5m2,block=16)"), RoundingSpec{Rounding::sr, 32});
  const Nchw s{4, 48, 2, 2};
  const std::vector<float> x = test::random_values(static_cast<std::size_t>(s.numel()), 3, 4.0);
  std::vector<float> a = x, b = x, c = x;
  role.apply(a, 11, "t", 1, nullptr, s);
  role.apply(b, 11, "t", 1, nullptr, s);
  role.apply(c, 12, "t", 1, nullptr, s);
  CHECK(identical(a, b));
  CHECK_FALSE(identical(a, c));
  CHECK(role.describe() == "mx(element=fp8_e5m2,block=16) sr(R=32)");
}

TEST_CASE("role policy: scaled and affine roles quantize the NCHW tensor as sim::Tensor does", "[nn][policy]") {
  const Nchw s{2, 3, 4, 5};
  const std::vector<float> x = test::random_values(static_cast<std::size_t>(s.numel()), 29, 3.0);
  for (const char* spec : {"scaled(format=int8,scale=pow2)", "scaled(format=fp8_e4m3,scale=real,axis=1)", "affine(bits=4,axis=0)",
                           "affine(bits=8,signed=yes)"}) {
    INFO(spec);
    const sim::TensorPolicy p = sim::parse_policy(spec);
    sim::Tensor t(sim::Shape{2, 3, 4, 5}, p, {}, 9);
    std::vector<float> want(x.size());
    t.quantize_decode(std::span<const float>(x), std::span<float>(want));
    std::vector<float> got = x;
    RoleRounding::tensor_policy(p, {}).apply(got, 9, "t", 1, nullptr, s);
    CHECK(identical(got, want));
    CHECK_FALSE(identical(got, x));
  }
}

TEST_CASE("role policy: an elementwise policy is the plain format role", "[nn][policy]") {
  const RoleRounding r = RoleRounding::tensor_policy(sim::parse_policy("fp8_e4m3"), {});
  CHECK(sim::nn::tensor_policy_of(r) == nullptr);
  CHECK(r.values_are_codes());
  CHECK(r.format().name() == "fp8_e4m3");
}

TEST_CASE("role policy: configs write policies as strings or tables and print them back", "[train][policy]") {
  using sim::nn::Role;
  auto role_of = [](const std::string& text, Role r) {
    const sim::train::TrainConfig c = sim::train::parse_config("[formats]\n" + text + "\n", "p.toml");
    REQUIRE(c.formats.roles[static_cast<std::size_t>(r)].has_value());
    return *c.formats.roles[static_cast<std::size_t>(r)];
  };
  // The role's tensor policy; a role of another policy fails the test here.
  auto policy_of = [](const RoleRounding& role) -> const sim::TensorPolicy& {
    const sim::TensorPolicy* p = sim::nn::tensor_policy_of(role);
    REQUIRE(p != nullptr);
    return *p;
  };
  const RoleRounding table = role_of("A = { policy = \"mx\", format = \"fp8_e4m3\", block = 32 }", Role::A);
  const RoleRounding alias = role_of("A = \"mxfp8_e4m3\"", Role::A);
  const RoleRounding ctor = role_of("A = \"mx(element=fp8_e4m3)\"", Role::A);
  CHECK(policy_of(table) == policy_of(alias));
  CHECK(policy_of(ctor) == policy_of(alias));
  CHECK(alias.describe() == "mxfp8_e4m3");

  const RoleRounding sr = role_of("E = { policy = \"mx\", format = \"fp4_e2m1\", block = 16, rounding = \"sr\", sr_bits = 8 }", Role::E);
  CHECK(sr.rounding() == RoundingSpec{Rounding::sr, 8});
  CHECK(policy_of(sr).block() == 16);
  const RoleRounding scaled = role_of("W = { policy = \"scaled\", format = \"int8\", scale = \"real\", axis = 0 }", Role::W);
  CHECK(policy_of(scaled).kind() == sim::PolicyKind::scaled);
  CHECK(policy_of(scaled).axis() == 0);
  const RoleRounding affine = role_of("G = { policy = \"affine\", bits = 6, signed = true }", Role::G);
  CHECK(policy_of(affine).bits() == 6);
  CHECK(policy_of(affine).is_signed());

  // to_toml prints each so that it reads back to the same role.
  const sim::train::TrainConfig c = sim::train::parse_config(
      "[formats]\nW = { policy = \"scaled\", format = \"int8\", axis = 0 }\nA = \"mxfp8_e4m3\"\n"
      "E = { format = \"mx(element=fp8_e5m2,block=16)\", rounding = \"sr\", sr_bits = 8 }\nG = { policy = \"affine\", bits = 6 }\n",
      "q.toml");
  const std::string printed = sim::train::to_toml(c);
  const sim::train::TrainConfig back = sim::train::parse_config(printed, "printed.toml");
  CHECK(sim::train::to_toml(back) == printed);
  for (Role r : {Role::W, Role::A, Role::E, Role::G}) {
    INFO(sim::nn::role_name(r));
    const auto& one = *c.formats.roles[static_cast<std::size_t>(r)];
    const auto& two = *back.formats.roles[static_cast<std::size_t>(r)];
    CHECK(policy_of(one) == policy_of(two));
    CHECK(one.rounding() == two.rounding());
  }
  CHECK_THAT(printed, Catch::Contains("A = \"mxfp8_e4m3\""));
}

TEST_CASE("role policy: config errors name the key", "[train][policy]") {
  auto error = [](const std::string& text) -> std::string {
    try {
      (void)sim::train::parse_config("[formats]\n" + text + "\n", "bad.toml");
    } catch (const sim::train::ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error("A = { policy = \"mxx\", format = \"fp8_e4m3\" }"), Catch::Contains("bad.toml:2: key 'formats.A.policy'") &&
                                                                             Catch::Contains("mx"));
  CHECK_THAT(error("A = { policy = \"mx\" }"), Catch::Contains("key 'formats.A.format'"));
  CHECK_THAT(error("A = { policy = \"mx\", format = \"fp8_e4m3\", blocks = 32 }"), Catch::Contains("blocks"));
  CHECK_THAT(error("A = { policy = \"mx\", format = \"fp8_e4m3\", block = 0 }"), Catch::Contains("key 'formats.A.block'"));
  CHECK_THAT(error("A = \"mx(element=fp8_e4m3,block=0)\""), Catch::Contains("key 'formats.A'") && Catch::Contains("block"));
  CHECK_THAT(error("A = \"mxfp9\""), Catch::Contains("key 'formats.A'"));
  CHECK_THAT(error("A = { policy = \"scaled\", format = \"int8\", axis = 4 }"), Catch::Contains("key 'formats.A.axis'"));
  CHECK_THAT(error("A = { policy = \"affine\", bits = 40 }"), Catch::Contains("key 'formats.A.bits'"));
  CHECK_THAT(error("A = { policy = \"mx\", format = \"fp8_e4m3\", rounding = \"up\" }"), Catch::Contains("key 'formats.A.rounding'"));
}
