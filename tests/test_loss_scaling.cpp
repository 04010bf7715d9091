// Loss scaling (sim/train/loss_scaling.hpp): the dynamic scaler's halving, skipping and doubling step
// by step; the config keys and their errors; fp8_e5m2 training runs whose errors overflow at the initial
// scale of 2^24: the dynamic run skips and halves (loss_scale.csv, hazards.csv), trains, and resumes
// bit for bit; the static run stops on the overflow; a scale of 1 changes nothing.
#include "sim/train/checkpoint.hpp"
#include "sim/train/config.hpp"
#include "sim/train/loss_scaling.hpp"
#include "sim/train/trainer.hpp"

#include "temp_dir.hpp"
#include "train_checks.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim;
using train::LossScaleConfig;
using train::LossScaleMode;
using train::LossScaler;
using train::LossScaleState;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The unit run (train_checks.hpp) with its errors (and the loss gradient) in fp8_e5m2 (largest 57344,
// overflow to infinity): dL/dlogits = (p - y) / 128 reaches about 2^-7, which times the initial scale
// 2^24 overflows.
train::TrainConfig config(const std::string& dir, std::vector<std::string> sets) {
  sets.push_back("formats.E=\"fp8_e5m2\"");
  return bitsim::test::unit_run_config(dir, std::move(sets));
}

train::TrainOptions quiet(bool resume = false) { return bitsim::test::quiet_training(resume); }

}  // namespace

TEST_CASE("loss scaling: the dynamic scaler halves and skips on overflow, doubles after N clean steps", "[train][loss_scale]") {
  LossScaleConfig c;
  c.mode = LossScaleMode::dynamic;
  c.init = 1024;
  c.growth_interval = 3;
  LossScaler s(c, LossScaleState{});
  CHECK(s.scale() == 1024.0f);
  CHECK(s.end_step(false));  // skipped, halved
  CHECK(s.scale() == 512.0f);
  CHECK_FALSE(s.end_step(true));
  CHECK_FALSE(s.end_step(true));
  CHECK(s.scale() == 512.0f);
  CHECK(s.state().clean_steps == 2);
  CHECK_FALSE(s.end_step(true));  // the third clean step: doubled
  CHECK(s.scale() == 1024.0f);
  CHECK(s.state().clean_steps == 0);
  CHECK_FALSE(s.end_step(true));
  CHECK(s.end_step(false));  // an overflow resets the count
  CHECK(s.scale() == 512.0f);
  CHECK(s.state().clean_steps == 0);
  // A state from a checkpoint continues where it was.
  LossScaler r(c, LossScaleState{64, 2});
  CHECK(r.scale() == 64.0f);
  CHECK_FALSE(r.end_step(true));
  CHECK(r.scale() == 128.0f);
  // Static: never skips, never changes.
  c.mode = LossScaleMode::fixed;
  LossScaler f(c, LossScaleState{});
  CHECK_FALSE(f.end_step(false));
  CHECK(f.scale() == 1024.0f);
  // Off: scale 1.
  c.mode = LossScaleMode::none;
  CHECK(LossScaler(c, LossScaleState{}).scale() == 1.0f);
  CHECK_FALSE(LossScaler(c, LossScaleState{}).enabled());
}

TEST_CASE("loss scaling: config keys, defaults written back only when set, and their errors", "[train][loss_scale]") {
  const char* base = "name = \"t\"\n[model]\nname = \"mlp\"\nwidth = 8\n";
  const auto plain = train::parse_config(base, "t.toml");
  CHECK(plain.loss_scale.mode == LossScaleMode::none);
  CHECK_THAT(train::to_toml(plain), !Catch::Contains("loss_scale"));
  const auto d = train::parse_config(base, "t.toml", {"train.loss_scale=\"dynamic\"", "train.loss_scale_growth_interval=100"});
  CHECK(d.loss_scale.mode == LossScaleMode::dynamic);
  CHECK(d.loss_scale.init == 65536);
  CHECK(d.loss_scale.growth_interval == 100);
  CHECK_THAT(train::to_toml(d), Catch::Contains("loss_scale = \"dynamic\"") && Catch::Contains("loss_scale_growth_interval = 100"));
  CHECK(train::parse_config(train::to_toml(d), "again.toml").loss_scale == d.loss_scale);

  auto error = [&](std::vector<std::string> sets) -> std::string {
    try {
      train::parse_config(base, "t.toml", sets);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(error({"train.loss_scale=\"dynamic\"", "train.loss_scale_init=1000"}),
             Catch::Contains("loss_scale_init") && Catch::Contains("not a power of two"));
  CHECK_THAT(error({"train.loss_scale=\"always\""}), Catch::Contains("train.loss_scale"));
  CHECK_THAT(error({"train.loss_scale_init=1024"}), Catch::Contains("loss_scale_init") && Catch::Contains("needs train.loss_scale"));
  CHECK_THAT(error({"train.loss_scale=\"static\"", "train.loss_scale_growth_interval=10"}),
             Catch::Contains("loss_scale_growth_interval") && Catch::Contains("dynamic"));
  CHECK_THAT(error({"train.loss_scale=\"dynamic\"", "optimizer.weight_decay_point=\"gradient\""}),
             Catch::Contains("weight_decay_point"));
  CHECK_THAT(error({"train.loss_scale=\"dynamic\"", "train.loss_scale_init=0"}), Catch::Contains("loss_scale_init"));
}

TEST_CASE("loss scaling: a dynamic run skips the overflowing steps, logs them, trains and resumes bit for bit",
          "[train][loss_scale]") {
  bitsim::test::TempDir tmp;
  const std::vector<std::string> dynamic = {"train.loss_scale=\"dynamic\"", "train.loss_scale_init=16777216",  // 2^24
                                            "train.loss_scale_growth_interval=4"};
  const train::TrainResult a = train::run_training(config(tmp / "a", dynamic), quiet());
  CHECK(a.finished);
  CHECK(a.test_accuracy > 0.5);
  const auto rows = lines(slurp(tmp / "a/loss_scale.csv"));
  REQUIRE(rows.size() == 15);  // header and 14 steps
  CHECK(rows[0] == "step,loss_scale,grad_finite,skipped");
  CHECK(rows[1] == "0,16777216,0,1");  // 2^24 overflows fp8_e5m2 at once: skipped, halved
  // The rule restated: the scale halves after a skipped step and doubles after 4 clean ones in a row.
  double expect = 16777216;
  int clean = 0, skipped = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    INFO(rows[i]);
    std::istringstream in(rows[i]);
    std::string step, scale, finite, skip;
    std::getline(in, step, ',');
    std::getline(in, scale, ',');
    std::getline(in, finite, ',');
    std::getline(in, skip, ',');
    CHECK(std::stoi(step) == static_cast<int>(i) - 1);
    CHECK(skip == (finite == "1" ? "0" : "1"));
    CHECK(std::stod(scale) == expect);
    if (skip == "1") {
      ++skipped;
      expect /= 2;
      clean = 0;
    } else if (++clean == 4) {
      expect *= 2;
      clean = 0;
    }
  }
  CHECK(skipped >= 1);
  CHECK(skipped < 14);
  // The skipped steps' overflows are in hazards.csv, as warnings, not stops.
  CHECK_THAT(slurp(tmp / "a/hazards.csv"), Catch::Contains("overflow"));
  CHECK(a.hazards > 0);

  // Stopped after 3 steps (inside the skipping) and resumed: the same weights and the same log.
  const train::TrainResult stopped = train::run_training(config(tmp / "b", [&] {
                                                            auto s = dynamic;
                                                            s.push_back("train.stop_after_steps=3");
                                                            return s;
                                                          }()),
                                                          quiet());
  CHECK_FALSE(stopped.finished);
  const train::TrainResult resumed = train::run_training(config(tmp / "b", dynamic), quiet(true));
  CHECK(resumed.weights_digest == a.weights_digest);
  CHECK(slurp(tmp / "b/loss_scale.csv") == slurp(tmp / "a/loss_scale.csv"));

  // Static scaling at 2^24 stops at the first overflow (hazards.on_nonfinite = "stop").
  CHECK_THROWS_AS(train::run_training(config(tmp / "c", {"train.loss_scale=\"static\"", "train.loss_scale_init=16777216"}),
                                      quiet()),
                  train::HazardError);
  // A static scale of 1 is the run without loss scaling, bit for bit.
  const train::TrainResult none = train::run_training(config(tmp / "d", {}), quiet());
  const train::TrainResult one = train::run_training(config(tmp / "e", {"train.loss_scale=\"static\"", "train.loss_scale_init=1"}), quiet());
  CHECK(one.weights_digest == none.weights_digest);
  CHECK(none.weights_digest != a.weights_digest);
}
