// Checks shared by the tests of the training schemes (test_banner2018.cpp, test_wageubn_training.cpp):
// central differences of a batch-norm loss, a smoke run of a scheme's config, and its bit-exact resume.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace bitsim::test {

// A scalar loss of a batch-norm layer's input x and its gamma and beta, in double.
using BnLoss = std::function<double(const std::vector<double>& x, const std::vector<double>& gamma,
                                    const std::vector<double>& beta)>;

// d loss / d x_i by central differences with step h, for every i.
inline std::vector<double> central_dx(const BnLoss& loss, const std::vector<double>& x, const std::vector<double>& gamma,
                                      const std::vector<double>& beta, double h) {
  std::vector<double> fd(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<double> xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    fd[i] = (loss(xp, gamma, beta) - loss(xm, gamma, beta)) / (2 * h);
  }
  return fd;
}

// Checks the layer's gamma and beta gradients (params[0], params[1]) against central differences.
inline void check_affine_grads(bitsim::sim::nn::Layer& bn, const BnLoss& loss, const std::vector<double>& x,
                               const std::vector<double>& gamma, const std::vector<double>& beta, double h) {
  // One gamma and beta per channel of the layer (AddressSanitizer caught a caller passing more).
  REQUIRE(gamma.size() == bn.params()[0]->grad.data.size());
  REQUIRE(beta.size() == bn.params()[1]->grad.data.size());
  for (std::size_t c = 0; c < gamma.size(); ++c) {
    std::vector<double> gp = gamma, gm = gamma, bp = beta, bm = beta;
    gp[c] += h;
    gm[c] -= h;
    bp[c] += h;
    bm[c] -= h;
    INFO("channel " << c);
    CHECK(bn.params()[0]->grad.data[c] == Approx((loss(x, gp, beta) - loss(x, gm, beta)) / (2 * h)).epsilon(1e-4).margin(1e-4));
    CHECK(bn.params()[1]->grad.data[c] == Approx((loss(x, gamma, bp) - loss(x, gamma, bm)) / (2 * h)).epsilon(1e-4).margin(1e-4));
  }
}

// Trains `config_file` shrunk (width 4, 640 samples, 2 epochs of 5 steps) once whole with 1 thread and
// once stopped after 3 steps and resumed with 2 threads: the two must end bit for bit equal.
inline void check_resumes_bit_exact(const std::string& config_file) {
  namespace fs = std::filesystem;
  namespace train = bitsim::sim::train;
  std::string t = (fs::temp_directory_path() / "bitsim-resume-XXXXXX").string();
  REQUIRE(::mkdtemp(t.data()));
  const fs::path dir = t;
  auto config = [&](const std::string& run, std::vector<std::string> sets) {
    sets.insert(sets.end(), {"model.width=4", "data.limit_train=640", "data.limit_test=200", "train.epochs=2",
                             "threads=1", "run.dir=\"" + (dir / run).string() + "\""});
    return train::load_config(config_file, sets);
  };
  train::TrainOptions o;
  o.progress = false;
  const train::TrainResult whole = train::run_training(config("whole", {}), o);
  const train::TrainResult part = train::run_training(config("split", {"train.stop_after_steps=3"}), o);
  CHECK_FALSE(part.finished);
  o.resume = true;
  o.threads = 2;
  const train::TrainResult rest = train::run_training(config("split", {}), o);
  fs::remove_all(dir);
  CHECK(rest.finished);
  CHECK(rest.weights_digest == whole.weights_digest);
  CHECK(rest.test_accuracy == whole.test_accuracy);
}

// What a smoke run leaves: its result, the train loss of each epoch (metrics.csv) and model.txt.
struct SmokeRun {
  bitsim::sim::train::TrainResult result;
  std::vector<double> train_loss;
  std::string model_txt;
};

// Trains `config_file` shrunk (width 4, 1000 training and 500 test samples, 2 epochs of 7 steps, 2
// threads) in a temporary folder, with `extra_sets` applied last, and reads back what it wrote.
inline SmokeRun smoke_run(const std::string& config_file, const std::vector<std::string>& extra_sets = {}) {
  namespace fs = std::filesystem;
  namespace train = bitsim::sim::train;
  std::string t = (fs::temp_directory_path() / "bitsim-smoke-XXXXXX").string();
  REQUIRE(::mkdtemp(t.data()));
  const fs::path dir = t;
  std::vector<std::string> sets = {"model.width=4", "data.limit_train=1000", "data.limit_test=500", "train.epochs=2",
                                   "threads=2", "run.dir=\"" + (dir / "run").string() + "\""};
  sets.insert(sets.end(), extra_sets.begin(), extra_sets.end());
  train::TrainOptions o;
  o.progress = false;
  SmokeRun run;
  run.result = train::run_training(train::load_config(config_file, sets), o);
  std::ifstream in(dir / "run/metrics.csv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string f;
    for (int i = 0; i < 4; ++i) std::getline(ss, f, ',');  // epoch, step, lr, train_loss
    run.train_loss.push_back(std::stod(f));
  }
  std::stringstream model;
  model << std::ifstream(dir / "run/model.txt").rdbuf();
  run.model_txt = model.str();
  fs::remove_all(dir);
  return run;
}

// The unit training run of the training tests: an MLP of width 64 on 1000 Fashion-MNIST training
// samples in batches of 128 with drop_last (7 steps per epoch, the last 104 samples of each epoch's order
// unused), 2 epochs (14 steps), 500 test samples; well under a second. `sets` are --set overrides
// (formats, optimizer, ...); the run folder is `run_dir`.
inline constexpr std::int64_t kUnitStepsPerEpoch = 7, kUnitSteps = 14;
inline bitsim::sim::train::TrainConfig unit_run_config(const std::string& run_dir, std::vector<std::string> sets = {}) {
  static const char* const kUnitRun = R"toml(name = "unit"
seed = 7
threads = 1

[model]
name = "mlp"
width = 64

[data]
batch = 128
limit_train = 1000
limit_test = 500

[train]
epochs = 2

[optimizer]
lr = 0.05
)toml";
  sets.push_back("run.dir=\"" + run_dir + "\"");
  return bitsim::sim::train::parse_config(kUnitRun, "unit.toml", sets);
}

// Training options without progress output; `threads` 0 keeps the config's.
inline bitsim::sim::train::TrainOptions quiet_training(bool resume = false, int threads = 0) {
  bitsim::sim::train::TrainOptions o;
  o.progress = false;
  o.resume = resume;
  o.threads = threads;
  return o;
}

}  // namespace bitsim::test
