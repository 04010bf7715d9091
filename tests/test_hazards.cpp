// Numerical hazards (sim/train/hazards.hpp): the counting of one rounding site against hand-made
// tensors, the [hazards] config keys, and training runs that saturate, overflow and produce NaN, each
// stopped or warned about as configured, naming step, layer and role; and a run stopped by a stop
// request (SIGINT in `bitsim train`), which resumes to the uninterrupted result.
#include "sim/train/config.hpp"
#include "sim/train/hazards.hpp"
#include "sim/train/trainer.hpp"

#include "error_of.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim;
namespace formats = bitsim::formats;
using bitsim::test::error_of;
using bitsim::test::TempDir;
using Catch::Contains;
using train::Hazard;
using train::HazardAction;
using train::HazardConfig;
using train::HazardWatch;

namespace {

// The least a layer needs to be a rounding site's owner in an event.
class SiteLayer final : public nn::Layer {
 public:
  const char* kind() const override { return "linear"; }
  Nchw output_shape(std::span<const Nchw> in) const override { return in[0]; }
  void forward(const nn::StepContext&, std::span<const nn::FTensor* const>, nn::FTensor&) override {}
  void backward(const nn::StepContext&, const nn::FTensor&, std::span<nn::FTensor* const>) override {}
};

nn::RoundingEvent event(const SiteLayer& l, nn::Role r, const std::vector<float>& before, const std::vector<float>& after,
                        std::string_view tensor = {}) {
  return nn::RoundingEvent{&l, r, 0, tensor, before, after, {}};
}

const float kInf = std::numeric_limits<float>::infinity(), kNaN = std::numeric_limits<float>::quiet_NaN();

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

// A 2-epoch MLP run of 7 steps per epoch on 1000 Fashion-MNIST samples (as test_train_runs.cpp).
train::TrainConfig mlp(const TempDir& dir, const std::string& run, std::vector<std::string> sets) {
  sets.push_back("run.dir=\"" + dir / run + "\"");
  return train::parse_config("name = \"hz\"\nseed = 7\nthreads = 1\n[model]\nname = \"mlp\"\nwidth = 32\n[data]\nbatch = 128\n"
                             "limit_train = 1000\nlimit_test = 200\n[train]\nepochs = 2\n[optimizer]\nlr = 0.05\n",
                             "hz.toml", sets);
}

}  // namespace

TEST_CASE("hazards: a site's saturation is counted against the format's limits", "[hazards]") {
  SiteLayer l;
  l.name = "fc1";
  // fixed(i=0,f=7): values k/128 for k in -128..127, i.e. [-1, 0.9921875].
  l.roles.by_role[static_cast<std::size_t>(nn::Role::A)] = nn::RoleRounding(formats::parse_format("fixed(i=0,f=7)"), {});
  HazardConfig cfg;
  cfg.saturation = 0.25;  // more than 1 of 4 values
  HazardWatch w(cfg);
  REQUIRE(w.begin_step(5) == &w);
  // Two clamped (2.0 -> 0.9921875 above, -3 -> -1 below); 0.9921875 itself was not clamped; 0.5 exact.
  w.on_rounding(event(l, nn::Role::A, {2.0f, -3.0f, 0.9921875f, 0.5f}, {0.9921875f, -1.0f, 0.9921875f, 0.5f}));
  // One of four clamped: 25%, not more than the limit.
  w.on_rounding(event(l, nn::Role::A, {2.0f, 0.1f, 0.2f, 0.3f}, {0.9921875f, 0.1015625f, 0.203125f, 0.296875f}));
  const std::vector<Hazard> h = w.end_step(0.7);
  REQUIRE(h.size() == 1);
  CHECK(h[0].kind == Hazard::Kind::saturation);
  CHECK(h[0].count == 2);
  CHECK(h[0].elements == 4);
  CHECK(h[0].step == 5);
  CHECK(w.action(h[0]) == HazardAction::warn);
  CHECK_THAT(h[0].message(), Contains("step 5: layer fc1 (linear), role A: 2 of 4 values (50%) saturated"));
  CHECK_THAT(h[0].message(), Contains("fixed(i=0,f=7)"));
}

TEST_CASE("hazards: the first non-finite site of a step is recorded, input or overflow", "[hazards]") {
  SiteLayer l;
  l.name = "conv2";
  l.roles.by_role[static_cast<std::size_t>(nn::Role::E)] = nn::RoleRounding(formats::parse_format("fp16"), {});
  HazardWatch w(HazardConfig{});
  SECTION("finite values that overflow the format") {
    w.begin_step(3);
    // 1e5 and -7e4 are beyond fp16's 65504 and become +-inf; 1 is fine.
    w.on_rounding(event(l, nn::Role::E, {1e5f, 1.0f, -7e4f}, {kInf, 1.0f, -kInf}));
    w.on_rounding(event(l, nn::Role::E, {kNaN}, {kNaN}));  // downstream: not recorded again
    const std::vector<Hazard> h = w.end_step(kNaN);  // the loss NaN is the same hazard: not added
    REQUIRE(h.size() == 1);
    CHECK(h[0].kind == Hazard::Kind::overflow);
    CHECK(h[0].count == 2);
    CHECK(w.action(h[0]) == HazardAction::stop);
    CHECK_THAT(h[0].message(), Contains("step 3: layer conv2 (linear), role E: 2 of 3 finite values became NaN or Inf when "
                                        "rounded to fp16"));
  }
  SECTION("values that arrive non-finite, on an identity (fp32) site") {
    l.roles.by_role[static_cast<std::size_t>(nn::Role::W)] = nn::RoleRounding();
    w.begin_step(0);
    const std::vector<float> x = {kNaN, 2.0f, kInf, -kInf};
    w.on_rounding(nn::RoundingEvent{&l, nn::Role::W, 0, "weight", x, x, {}});
    const std::vector<Hazard> h = w.end_step(1.0);
    REQUIRE(h.size() == 1);
    CHECK(h[0].kind == Hazard::Kind::nonfinite_input);
    CHECK(h[0].count == 3);
    CHECK(h[0].tensor == "weight");
    CHECK_THAT(h[0].message(), Contains("role W (weight): 3 of 4 values are NaN or Inf before rounding to fp32"));
  }
  SECTION("a non-finite loss with finite tensors") {
    w.begin_step(9);
    w.on_rounding(event(l, nn::Role::E, {1.0f}, {1.0f}));
    const std::vector<Hazard> h = w.end_step(std::numeric_limits<double>::infinity());
    REQUIRE(h.size() == 1);
    CHECK(h[0].kind == Hazard::Kind::nonfinite_loss);
    CHECK_THAT(h[0].message(), Contains("step 9: the loss is inf (no rounding site"));
  }
  SECTION("unchecked steps see nothing but the loss") {
    HazardConfig every4;
    every4.check_every = 4;
    HazardWatch w4(every4);
    CHECK(w4.begin_step(4) == &w4);
    w4.end_step(0);
    CHECK(w4.begin_step(6) == nullptr);
    const std::vector<Hazard> h = w4.end_step(kNaN);
    REQUIRE(h.size() == 1);
    CHECK_THAT(h[0].message(), Contains("not checked; set hazards.check_every = 1"));
  }
}

TEST_CASE("hazards: the [hazards] config keys", "[hazards][config]") {
  const train::TrainConfig d = train::parse_config("name = \"x\"\n", "h.toml");
  CHECK(d.hazards == HazardConfig{});
  CHECK(d.hazards.on_nonfinite == HazardAction::stop);
  CHECK(d.hazards.on_saturation == HazardAction::warn);
  CHECK(d.hazards.saturation == 0.01);
  CHECK(d.hazards.check_every == 1);
  CHECK(train::to_toml(d).find("[hazards]") == std::string::npos);  // defaults are not written
  const train::TrainConfig c = train::parse_config(
      "name = \"x\"\n[hazards]\non_nonfinite = \"warn\"\non_saturation = \"stop\"\nsaturation = 0.2\ncheck_every = 5\n", "h.toml");
  CHECK(c.hazards.on_nonfinite == HazardAction::warn);
  CHECK(c.hazards.on_saturation == HazardAction::stop);
  CHECK(c.hazards.saturation == 0.2);
  CHECK(c.hazards.check_every == 5);
  CHECK(train::parse_config(train::to_toml(c), "again.toml").hazards == c.hazards);  // written and read back
  CHECK(train::identity_config(c) == train::identity_config(d));                    // a resume may change them
  CHECK_THAT(error_of<train::ConfigError>([] { train::parse_config("[hazards]\nsaturation = 1.5\n", "h.toml"); }),
             Contains("h.toml:2") && Contains("hazards.saturation"));
  CHECK_THAT(error_of<train::ConfigError>([] { train::parse_config("[hazards]\non_nonfinite = \"ignore\"\n", "h.toml"); }),
             Contains("h.toml:2") && Contains("hazards.on_nonfinite"));
  CHECK_THAT(error_of<train::ConfigError>([] { train::parse_config("[hazards]\nevery = 3\n", "h.toml"); }), Contains("hazards.every"));
}

TEST_CASE("hazards: saturating activations stop a run, or warn once per site and log every step", "[hazards][train]") {
  const TempDir dir("bitsim-hazards");
  // Activations in fixed(i=0,f=7) ([-1, 0.992]): the inputs are normalized (|x| up to ~2.8) and the
  // layers' outputs exceed 1 often, far more than 1% of every A tensor.
  const std::vector<std::string> sat = {"formats.A=\"fixed(i=0,f=7)\"", "hazards.saturation=0.01"};
  train::TrainOptions o;
  o.progress = false;
  std::vector<std::string> stop = sat;
  stop.push_back("hazards.on_saturation=\"stop\"");
  const std::string msg = error_of<train::HazardError>([&] { train::run_training(mlp(dir, "stop", stop), o); });
  CHECK_THAT(msg, Contains("step 0: layer ") && Contains("role A:") && Contains("saturated") && Contains("fixed(i=0,f=7)"));
  CHECK_FALSE(std::filesystem::exists(dir / "stop/checkpoint.bin"));  // nothing of the hazardous step is kept
  CHECK(lines(read(dir / "stop/hazards.csv")) >= 2);                   // header and the stopping hazard

  std::ostringstream warnings;
  o.warnings = &warnings;
  const train::TrainResult r = train::run_training(mlp(dir, "warn", sat), o);
  CHECK(r.finished);
  CHECK(r.hazards >= 14);  // at least one site in each of the 14 steps
  const std::string csv = read(dir / "warn/hazards.csv");
  CHECK(lines(csv) == static_cast<std::size_t>(r.hazards) + 1);
  CHECK(csv.rfind("step,kind,layer,layer_kind,role,tensor,quantizer,count,elements,loss\n", 0) == 0);
  // One warning per (layer, role, tensor, kind), however many steps saturate there.
  const std::size_t warned = lines(warnings.str());
  CHECK(warned >= 1);
  CHECK(warned < static_cast<std::size_t>(r.hazards));
  CHECK_THAT(warnings.str(), Contains("further ones at this site: hazards.csv only"));
  // Checks read only: the weights are those of the same run without them.
  std::vector<std::string> off = sat;
  off.push_back("hazards.on_saturation=\"ignore\"");
  o.warnings = nullptr;
  CHECK(train::run_training(mlp(dir, "ignore", off), o).weights_digest == r.weights_digest);
}

TEST_CASE("hazards: overflow to Inf and NaN name their step, layer and role", "[hazards][train]") {
  const TempDir dir("bitsim-hazards");
  train::TrainOptions o;
  o.progress = false;
  // Weights rounded to fp16 (largest 65504) and a learning rate of 1e6: the first update throws the
  // weights beyond fp16, so step 1's W rounding overflows to Inf.
  const std::vector<std::string> blow = {"formats.W=\"fp16\"", "optimizer.lr=1e6", "optimizer.weight_decay=0"};
  const std::string msg = error_of<train::HazardError>([&] { train::run_training(mlp(dir, "stop", blow), o); });
  CHECK_THAT(msg, Contains("step 1: layer ") && Contains("role W (weight)") && Contains("became NaN or Inf when rounded to fp16"));
  // With on_nonfinite = "warn" the run goes on; activations in int8 then meet the NaN that the Inf
  // weights produce, which int8 cannot hold: that stops the run whatever the action.
  std::vector<std::string> warn = blow;
  warn.insert(warn.end(), {"hazards.on_nonfinite=\"warn\"", "formats.A=\"fixed(i=15,f=8)\""});
  std::ostringstream warnings;
  o.warnings = &warnings;
  const std::string msg2 = error_of<train::HazardError>([&] { train::run_training(mlp(dir, "warn", warn), o); });
  CHECK_THAT(warnings.str(), Contains("warning: step 1: layer ") && Contains("role W (weight)"));
  CHECK_THAT(msg2, Contains("step ") && Contains(" A") && Contains("NaN") && Contains("cannot hold the value"));
}

TEST_CASE("hazards: a stop request ends the run after the step with a checkpoint - resuming completes it", "[hazards][train]") {
  const TempDir dir("bitsim-hazards");
  train::TrainOptions o;
  o.progress = false;
  const train::TrainResult whole = train::run_training(mlp(dir, "whole", {}), o);
  std::atomic<bool> stop{true};  // as if SIGINT arrived during the first step
  o.stop_requested = &stop;
  const train::TrainResult part = train::run_training(mlp(dir, "split", {}), o);
  CHECK(part.interrupted);
  CHECK_FALSE(part.finished);
  CHECK(part.steps == 1);
  CHECK(std::filesystem::exists(dir / "split/checkpoint.bin"));
  stop = false;
  o.resume = true;
  const train::TrainResult rest = train::run_training(mlp(dir, "split", {}), o);
  CHECK(rest.finished);
  CHECK(rest.weights_digest == whole.weights_digest);
}
