// The amax scaling recipes (sim/methods/scaling/amax_scaling.hpp): scales against hand-computed
// examples (fp32, power of two, E8M0 clamping, margin), the delayed recipe's history roll (max and
// most_recent) step by step, values against the definition written out with the formats library's
// scalar quantizer, saturation beyond the history's amax, evaluation and later micro-batches leaving the
// history alone, separate histories per slot, the config spellings and their errors, and a training run
// that resumes bit for bit with its histories in the checkpoint.
#include "formats/format.hpp"
#include "formats/format_limits.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "sim/methods/rounding_policies.hpp"
#include "sim/methods/scaling/amax_scaling.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include "temp_dir.hpp"
#include "train_checks.hpp"
#include "random_values.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace bitsim;
using formats::Rounding;
using formats::RoundingSpec;
using sim::methods::amax_scale;
using sim::methods::AmaxScale;
using sim::methods::ScaleFormat;
using sim::nn::PolicyState;
using sim::nn::RoleRounding;

namespace {

RoleRounding policy(const std::string& text, RoundingSpec r = {}) { return sim::methods::parse_role_rounding(text, r); }

float amax_of(const std::vector<float>& x) {
  float a = 0;
  for (float v : x)
    if (std::isfinite(v)) a = std::max(a, std::fabs(v));
  return a;
}

// The recipe's values written out for scale s: fl32(Q(clamp(fl32(x * s), -L, L)) * s_inv), element j
// taking word j (the clamp is the saturation).
std::vector<float> oracle(const std::vector<float>& x, const AmaxScale& s, const formats::Format& f, RoundingSpec r, std::uint64_t seed) {
  const formats::Quantizer q(f, r);
  const formats::PhiloxWords words(seed);
  const double largest = formats::finite_limits(f).max_finite;
  std::vector<float> out(x.size());
  for (std::size_t j = 0; j < x.size(); ++j) {
    float y = s.power_of_two ? static_cast<float>(std::ldexp(double(x[j]), s.exponent)) : x[j] * s.multiplier;
    y = static_cast<float>(std::clamp(double(y), -largest, largest));
    const double v = q.quantize(double(y), words.word(j)).value;
    out[j] = s.power_of_two ? static_cast<float>(std::ldexp(v, -s.exponent)) : static_cast<float>(v) * s.inverse;
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("amax scaling: scales against hand-computed examples", "[policy][scaling]") {
  // E4M3: L = 448.
  SECTION("fp32: L / amax in float, then 2^-margin") {
    const AmaxScale s = amax_scale(3.5f, 448.0f, 0, ScaleFormat::fp32);
    CHECK(s.multiplier == 128.0f);
    CHECK(s.inverse == 0.0078125f);
    CHECK_FALSE(s.power_of_two);
    CHECK(amax_scale(3.5f, 448.0f, 1, ScaleFormat::fp32).multiplier == 64.0f);
    CHECK(amax_scale(3.5f, 448.0f, 3, ScaleFormat::fp32).multiplier == 16.0f);
    const AmaxScale t = amax_scale(3.0f, 448.0f, 0, ScaleFormat::fp32);
    CHECK(t.multiplier == 448.0f / 3.0f);  // 149.333... rounded to float
    CHECK(t.multiplier != 149.0f);
    CHECK(t.inverse == 1.0f / (448.0f / 3.0f));
  }
  SECTION("pow2: the largest 2^k with amax * 2^k <= L") {
    CHECK(amax_scale(3.5f, 448.0f, 0, ScaleFormat::pow2).exponent == 7);  // 3.5 * 128 = 448 fits exactly
    CHECK(amax_scale(3.6f, 448.0f, 0, ScaleFormat::pow2).exponent == 6);  // 3.6 * 128 = 460.8 does not
    CHECK(amax_scale(448.0f, 448.0f, 0, ScaleFormat::pow2).exponent == 0);
    CHECK(amax_scale(449.0f, 448.0f, 0, ScaleFormat::pow2).exponent == -1);
    CHECK(amax_scale(1.0f, 448.0f, 0, ScaleFormat::pow2).exponent == 8);  // 256 <= 448 < 512
    CHECK(amax_scale(1.0f, 448.0f, 2, ScaleFormat::pow2).exponent == 6);
    CHECK(amax_scale(1e30f, 57344.0f, 0, ScaleFormat::pow2).exponent == -84);  // E5M2: 1e30 * 2^-84 = 51698 <= 57344
    CHECK(amax_scale(1e30f, 57344.0f, 0, ScaleFormat::pow2).power_of_two);
  }
  SECTION("e8m0: the pow2 exponent clamped to [-127, 127]") {
    const float tiny = std::numeric_limits<float>::denorm_min();  // 2^-149
    CHECK(amax_scale(tiny, 448.0f, 0, ScaleFormat::pow2).exponent == 157);  // 2^-149 * 2^157 = 256
    CHECK(amax_scale(tiny, 448.0f, 0, ScaleFormat::e8m0).exponent == 127);
    CHECK(amax_scale(3.5f, 448.0f, 0, ScaleFormat::e8m0).exponent == 7);
  }
  SECTION("amax 0: scale 1") {
    for (ScaleFormat f : {ScaleFormat::fp32, ScaleFormat::pow2, ScaleFormat::e8m0}) {
      const AmaxScale s = amax_scale(0.0f, 448.0f, 2, f);
      CHECK(s.multiplier == 1.0f);
      CHECK(s.inverse == 1.0f);
      CHECK(s.exponent == 0);
    }
  }
  SECTION("fp32 edges are clamped to float's range") {
    CHECK(amax_scale(std::numeric_limits<float>::denorm_min(), 448.0f, 0, ScaleFormat::fp32).multiplier == std::numeric_limits<float>::max());
    const AmaxScale s = amax_scale(std::numeric_limits<float>::max(), 448.0f, 64, ScaleFormat::fp32);
    CHECK(s.multiplier == std::numeric_limits<float>::denorm_min());
    CHECK(s.inverse == std::numeric_limits<float>::max());
  }
}

TEST_CASE("amax scaling: current scaling gives the recipe's values bit for bit", "[policy][scaling]") {
  const formats::Format e4m3 = formats::parse_format("fp8_e4m3"), e5m2 = formats::parse_format("fp8_e5m2");
  const std::vector<float> x = test::random_values(1000, 3, 6.0);
  const float a = amax_of(x);
  for (const char* scale : {"fp32", "pow2", "e8m0"})
    for (const auto& [name, fmt_] : {std::pair{"fp8_e4m3", e4m3}, std::pair{"fp8_e5m2", e5m2}})
      for (Rounding mode : {Rounding::rne, Rounding::rtz, Rounding::sr})
        for (int margin : {0, 2}) {
          INFO(name << " scale=" << scale << " margin=" << margin << " " << formats::rounding_name(mode));
          RoundingSpec r;
          r.mode = mode;
          r.sr_bits = 8;
          const RoleRounding role = policy(fmt::format("current(format={},margin={},scale={})", name, margin, scale), r);
          const ScaleFormat sf = std::string(scale) == "fp32" ? ScaleFormat::fp32 : std::string(scale) == "pow2" ? ScaleFormat::pow2 : ScaleFormat::e8m0;
          const float largest = static_cast<float>(formats::finite_limits(fmt_).max_finite);
          const AmaxScale s = amax_scale(a, largest, margin, sf);
          std::vector<float> y = x;
          const auto reported = role.apply(y, 99, "A", 2);
          CHECK(same_bits(y, oracle(x, s, fmt_, r, 99)));
          CHECK(reported.scaled == (sf != ScaleFormat::fp32));
          if (reported.scaled) CHECK(reported.exponent == -s.exponent);
        }
}

TEST_CASE("amax scaling: current scaling per index of an axis scales each channel by its own amax", "[policy][scaling]") {
  const formats::Format e4m3 = formats::parse_format("fp8_e4m3");
  const sim::Nchw shape{2, 3, 2, 5};
  std::vector<float> x = test::random_values(static_cast<std::size_t>(shape.numel()), 11, 2.0);
  for (std::int64_t i = 0; i < shape.numel(); ++i)  // channel k spans 2^(6k): one tensor scale could not fit all three
    x[static_cast<std::size_t>(i)] *= std::exp2(6.0f * static_cast<float>((i / 10) % 3));
  for (const char* scale : {"fp32", "pow2"})
    for (int axis : {0, 1, 2, 3}) {
      INFO("scale=" << scale << " axis=" << axis);
      const std::int64_t dims[4] = {shape.n, shape.c, shape.h, shape.w};
      std::int64_t inner = 1;
      for (int d = axis + 1; d < 4; ++d) inner *= dims[d];
      auto group = [&](std::size_t i) { return static_cast<std::size_t>((static_cast<std::int64_t>(i) / inner) % dims[axis]); };
      std::vector<float> amax(static_cast<std::size_t>(dims[axis]), 0.0f);
      for (std::size_t i = 0; i < x.size(); ++i) amax[group(i)] = std::max(amax[group(i)], std::fabs(x[i]));
      RoundingSpec r;
      r.mode = Rounding::sr;
      r.sr_bits = 6;
      const RoleRounding role = policy(fmt::format("current(format=fp8_e4m3,scale={},axis={})", scale, axis), r);
      std::vector<float> y = x;
      role.apply(y, 5, "A", 1, nullptr, shape);
      // Element i: the whole-tensor recipe with its group's scale (word i either way).
      for (std::size_t g = 0; g < amax.size(); ++g) {
        const AmaxScale s = amax_scale(amax[g], 448.0f, 0, std::string(scale) == "pow2" ? ScaleFormat::pow2 : ScaleFormat::fp32);
        const std::vector<float> want = oracle(x, s, e4m3, r, 5);
        for (std::size_t i = 0; i < x.size(); ++i)
          if (group(i) == g) {
            INFO("element " << i);
            CHECK(std::memcmp(&y[i], &want[i], sizeof(float)) == 0);
          }
      }
    }
  CHECK(policy("current(format=fp8_e4m3,axis=1)").text() == "current(format=fp8_e4m3,axis=1)");
  CHECK_THROWS_WITH(policy("current(format=fp8_e4m3,axis=4)"), Catch::Contains("'axis' out of range"));
  CHECK_THROWS_WITH(policy("delayed(format=fp8_e4m3,history=2,axis=1)"), Catch::Contains("unknown key 'axis'"));
}

TEST_CASE("amax scaling: the delayed recipe rolls its history and scales from the previous steps", "[policy][scaling]") {
  // Amaxes 2, 8, 4, 1, 0.5, 0.25 at six steps, history 3, E4M3 (L = 448), pow2 scales: the scale's
  // exponent k of a reference amax a is the largest with a * 2^k <= 448: a = 2 -> 7, 8 -> 5, 4 -> 6,
  // 1 -> 8; the reported exponent is -k (values = codes times 2^-k).
  const std::vector<float> amaxes = {2, 8, 4, 1, 0.5f, 0.25f};
  std::vector<float> state(sim::methods::kAmaxSlots * 3, 0.0f);
  PolicyState ps;
  ps.values = state.data();
  auto step = [&](const RoleRounding& role, float amax) {
    std::vector<float> x = {amax, -amax / 2, 0.1f};
    const auto s = role.apply(x, 1, "A", 1, &ps);
    return s.scaled ? s.exponent : 99;  // 99: unscaled (scale 1, nothing measured yet)
  };
  SECTION("amax = max") {
    const RoleRounding role = policy("delayed(format=fp8_e4m3,history=3,scale=pow2)");
    CHECK(role.state_floats() == 3 * sim::methods::kAmaxSlots);
    // Step 1 runs with an empty history: scale 1. Then max of [2], [8,2], [4,8,2], [1,4,8], [0.5,1,4].
    const std::vector<int> expected = {99, -7, -5, -5, -5, -6};
    for (std::size_t t = 0; t < amaxes.size(); ++t) {
      INFO("step " << t);
      CHECK(step(role, amaxes[t]) == expected[t]);
    }
    // Newest first: the last three amaxes.
    CHECK(state[0] == 0.25f);
    CHECK(state[1] == 0.5f);
    CHECK(state[2] == 1.0f);
  }
  SECTION("amax = most_recent") {
    const RoleRounding role = policy("delayed(format=fp8_e4m3,history=3,scale=pow2,amax=most_recent)");
    const std::vector<int> expected = {99, -7, -5, -6, -8, -9};  // 0.5 -> 9
    for (std::size_t t = 0; t < amaxes.size(); ++t) {
      INFO("step " << t);
      CHECK(step(role, amaxes[t]) == expected[t]);
    }
  }
  SECTION("evaluation and micro-batches after the first leave the history alone") {
    const RoleRounding role = policy("delayed(format=fp8_e4m3,history=3,scale=pow2)");
    CHECK(step(role, 2) == 99);
    ps.training = false;
    CHECK(step(role, 100) == -7);
    ps.training = true;
    ps.update = false;
    CHECK(step(role, 100) == -7);
    ps.update = true;
    CHECK(step(role, 1) == -7);
    CHECK(step(role, 1) == -7);  // [1, 2]
    CHECK(state[0] == 1.0f);
    CHECK(state[1] == 1.0f);
    CHECK(state[2] == 2.0f);
  }
  SECTION("each slot (weight, bias) keeps its own history") {
    const RoleRounding role = policy("delayed(format=fp8_e4m3,history=3,scale=pow2)");
    ps.slot = 1;
    CHECK(step(role, 8) == 99);
    CHECK(state[0] == 0.0f);
    CHECK(state[3] == 8.0f);
    ps.slot = 0;
    CHECK(step(role, 2) == 99);  // slot 0 has seen nothing yet
    ps.slot = 1;
    CHECK(step(role, 2) == -5);
    ps.slot = sim::methods::kAmaxSlots;
    CHECK_THROWS_AS(step(role, 2), std::logic_error);
  }
}

TEST_CASE("amax scaling: values beyond the history's amax saturate, also in formats that overflow to infinity", "[policy][scaling]") {
  std::vector<float> state(sim::methods::kAmaxSlots, 0.0f);
  PolicyState ps;
  ps.values = state.data();
  // History amax 1 -> pow2 scale 2^8 for E4M3 (largest 448 = 1.75 * 2^8), 2^15 for E5M2 (largest
  // 57344 = 1.75 * 2^15); then a tensor with 4: 4 * 2^8 and 4 * 2^15 are beyond both formats' largest
  // values and saturate to 1.75 after scaling back. E5M2 alone would give infinity (fp8_e5m2:
  // overflow = inf), as would an infinite input.
  for (const char* name : {"fp8_e4m3", "fp8_e5m2"}) {
    INFO(name);
    const RoleRounding role = policy(fmt::format("delayed(format={},history=1,scale=pow2)", name));
    state.assign(state.size(), 0.0f);
    std::vector<float> first = {1.0f};
    role.apply(first, 1, "A", 1, &ps);
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> x = {4.0f, -4.0f, 1.5f, inf, std::nanf("")};
    role.apply(x, 1, "A", 1, &ps);
    CHECK(x[0] == 1.75f);
    CHECK(x[1] == -1.75f);
    CHECK(x[2] == 1.5f);
    CHECK(x[3] == 1.75f);
    CHECK(std::isnan(x[4]));
    CHECK(state[0] == 4.0f);  // the finite amax is recorded: the next step scales for it
  }
  std::vector<float> e5m2 = {4.0f * 32768};
  policy("fp8_e5m2").apply(e5m2, 1, "A");
  CHECK(std::isinf(e5m2[0]));  // the plain format overflows
}

TEST_CASE("amax scaling: config spellings print back and errors name the key", "[policy][scaling][train]") {
  CHECK(policy("current(format=fp8_e4m3)").text() == "current(format=fp8_e4m3)");
  CHECK(policy("current( format = fp8_e5m2 , scale = e8m0 , margin = 1 )").text() == "current(format=fp8_e5m2,margin=1,scale=e8m0)");
  CHECK(policy("delayed(format=fp8_e4m3,history=16)").text() == "delayed(format=fp8_e4m3,history=16)");
  CHECK(policy("delayed(format=fp8_e4m3,history=16,amax=most_recent,scale=pow2)").text() ==
        "delayed(format=fp8_e4m3,history=16,scale=pow2,amax=most_recent)");
  CHECK(policy("delayed(format=fp8_e4m3,history=16)", RoundingSpec{Rounding::sr, 8}).describe() ==
        "delayed(format=fp8_e4m3,history=16) sr(R=8)");
  CHECK(policy("current(format=fp8_e4m3)").state_floats() == 0);

  auto error = [](const std::string& text) -> std::string {
    try {
      policy(text);
    } catch (const formats::FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error("delayed(format=fp8_e4m3)"), Catch::Contains("missing required key 'history'"));
  CHECK_THAT(error("delayed(format=fp8_e4m3,history=0)"), Catch::Contains("'history' out of range"));
  CHECK_THAT(error("delayed(format=fp8_e4m3,history=1025)"), Catch::Contains("'history' out of range"));
  CHECK_THAT(error("current(format=fp8_e4m3,history=4)"), Catch::Contains("unknown key 'history'"));
  CHECK_THAT(error("current(format=fp8_e4m3,margin=-1)"), Catch::Contains("'margin' out of range"));
  CHECK_THAT(error("current(format=fp8_e4m3,scale=fp16)"), Catch::Contains("key 'scale': expected fp32, pow2 or e8m0"));
  CHECK_THAT(error("delayed(format=fp8_e4m3,history=2,amax=mean)"), Catch::Contains("key 'amax'"));
  CHECK_THAT(error("current(format=fp9)"), Catch::Contains("key 'format'"));
  CHECK_THAT(error("current(scale=pow2)"), Catch::Contains("missing required key 'format'"));
  CHECK_THAT(error("current(format=fp64)"), Catch::Contains("float"));  // the engine's arrays are floats
  // The C++ entry point checks the same ranges with the same words.
  auto struct_error = [](sim::methods::AmaxScaling spec) -> std::string {
    spec.format = formats::parse_format("fp8_e4m3");
    try {
      sim::methods::amax_rounding(spec, {});
    } catch (const formats::FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  sim::methods::AmaxScaling bad;
  bad.margin = 65;
  CHECK_THAT(struct_error(bad), Catch::Contains("current: key 'margin' out of range: 65 (must be 0..64)"));
  bad = {};
  bad.history = -2;
  CHECK_THAT(struct_error(bad), Catch::Contains("delayed: key 'history' out of range: -2 (must be 1..1024)"));
  bad = {};
  bad.history = 4;
  bad.axis = 1;
  CHECK_THAT(struct_error(bad), Catch::Contains("delayed: key 'axis': per-index scales are for current scaling"));
  bad = {};
  bad.axis = 4;
  CHECK_THAT(struct_error(bad), Catch::Contains("current: key 'axis' out of range: 4"));
  CHECK_THAT(error("current(format=fp8_e4m3,axis=-1)"), Catch::Contains("current: key 'axis' out of range: -1"));

  // In a config: table and text forms, any role (no batch axis needed), errors at the key.
  const char* base = "name = \"t\"\n[model]\nname = \"mlp\"\nwidth = 8\n";
  const auto c = sim::train::parse_config(
      base, "t.toml",
      {"formats.W=\"delayed(format=fp8_e4m3,history=4)\"",
       "formats.G={policy=\"delayed\", format=\"fp8_e5m2\", history=2, scale=\"pow2\", rounding=\"sr\"}"});
  CHECK_THAT(sim::train::to_toml(c), Catch::Contains("delayed(format=fp8_e4m3,history=4)") &&
                                         Catch::Contains("delayed(format=fp8_e5m2,history=2,scale=pow2)"));
  try {
    sim::train::parse_config(base, "t.toml", {"formats.E={policy=\"delayed\", format=\"fp8_e5m2\", history=-3}"});
    FAIL("no error");
  } catch (const std::exception& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("formats.E") && Catch::Contains("history"));
  }
}

TEST_CASE("amax scaling: an FP8 training run with delayed scaling resumes bit for bit", "[train][scaling]") {
  test::TempDir tmp;
  const std::vector<std::string> fp8 = {"formats.W=\"delayed(format=fp8_e4m3,history=4)\"",
                                        "formats.A=\"delayed(format=fp8_e4m3,history=4,scale=pow2)\"",
                                        "formats.E=\"delayed(format=fp8_e5m2,history=4,margin=1)\"",
                                        "formats.G={policy=\"current\", format=\"fp8_e5m2\", rounding=\"sr\"}"};
  auto config = [&](const std::string& dir, std::vector<std::string> sets = {}) {
    sets.insert(sets.begin(), fp8.begin(), fp8.end());
    return test::unit_run_config(dir, sets);
  };
  sim::train::TrainOptions quiet;
  quiet.progress = false;
  const auto a = sim::train::run_training(config(tmp / "a"), quiet);
  CHECK(a.finished);
  CHECK(a.test_accuracy > 0.5);
  const auto stopped = sim::train::run_training(config(tmp / "b", {"train.stop_after_steps=5"}), quiet);
  CHECK_FALSE(stopped.finished);
  quiet.resume = true;
  quiet.threads = 2;
  const auto resumed = sim::train::run_training(config(tmp / "b"), quiet);
  CHECK(resumed.weights_digest == a.weights_digest);
  CHECK(resumed.test_loss == a.test_loss);
  // The history matters: the current recipe on the same roles gives other weights.
  quiet.resume = false;
  const auto current = sim::train::run_training(
      config(tmp / "c", {"formats.W=\"current(format=fp8_e4m3)\"", "formats.A=\"current(format=fp8_e4m3,scale=pow2)\"",
                         "formats.E=\"current(format=fp8_e5m2,margin=1)\""}),
      quiet);
  CHECK(current.weights_digest != a.weights_digest);
}
