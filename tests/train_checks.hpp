// Checks shared by the tests of the training schemes (test_banner2018.cpp, test_wageubn_training.cpp):
// central differences of a batch-norm loss, and the bit-exact resume of a scheme's config.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <functional>
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

}  // namespace bitsim::test
