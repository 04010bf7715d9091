// Step time of the fp32 training engine: one SGD step (round weights, forward, softmax cross-entropy,
// backward, SGD momentum + weight decay) of the built-in models on 1x28x28 inputs (Fashion-MNIST size),
// batch 128 (MLP: 100), the same models and batches as bench/pytorch_step.py, for the comparison with
// PyTorch recorded in docs/PERFORMANCE.md. Arguments: model index (0 cnn, 1 resnet20, 2 preact_resnet20,
// 3 mlp, 4 vit: the small vision transformer of experiments/modern/vit_fashion_mnist.toml), thread count, and scheme (0 fp32; 1 the 8-bit scheme of Banner et al. 2018 with Range BN and
// gradients bifurcation, the [formats] of experiments/banner2018/cnn_q8_rangebn_bif.toml; 2 WAGEUBN's
// full 8-bit integer scheme, experiments/wageubn2019/cnn_full8.toml, with its quantized optimizer; 3
// Graham 2017's L4 batch-normalized activations in every batch norm but the first, kept as 4-bit codes,
// experiments/graham2017/cnn_L4_all_but_first.toml).
// BM_TrainStepLogged adds a fourth argument: [stats] every N steps (analysis/stats_logger.hpp, the
// HDF5 statistics of every rounding site; 0: the logger installed but never logging), to measure what
// logging costs per step on average; its counter stats_s/step is the logger's own time per step.
// BM_TrainStepChecked runs the default numerical-hazard checks ([hazards], sim/train/hazards.hpp) at
// every step, as `bitsim train` does unless hazards.check_every says otherwise.
// Scheme ids 10 and up are the low-precision recipes: the rows of experiments/modern/cnn_table.toml in
// order, then FP8 with current scaling (recipes()).
// BITSIM_PROFILE=1 prints a per-layer time table for each benchmark.
#include "analysis/stats_logger.hpp"
#include "apps/sweep/sweep_plan.hpp"
#include "formats/random_words.hpp"
#include "sim/nn/loss.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/methods/wageubn2019/wage_rounding.hpp"
#include "sim/nn/optimizer.hpp"
#include "sim/train/config.hpp"
#include "sim/train/hazards.hpp"
#include "sim/runtime/retain_memory.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

namespace {

using namespace bitsim::sim;

const char* kModels[] = {"cnn", "resnet20", "preact_resnet20", "mlp", "vit"};

// The low-precision recipes measured against fp32: each row of experiments/modern/cnn_table.toml (its
// config with the row's and the plan's overrides, read from the plan so that the two never differ), then
// FP8 with current scaling in place of the fp8_delayed row's delayed scaling (not a row of the table).
struct Recipe {
  std::string name;
  train::TrainConfig config;
};
const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = [] {
    std::vector<Recipe> r;
    const bitsim::sweep::SweepPlan plan = bitsim::sweep::load_plan(BITSIM_SOURCE_DIR "/experiments/modern/cnn_table.toml");
    for (const bitsim::sweep::SweepRow& row : plan.rows) {
      std::vector<std::string> sets = row.sets;
      sets.insert(sets.end(), plan.sets.begin(), plan.sets.end());
      r.push_back({row.id, train::load_config(BITSIM_SOURCE_DIR "/" + row.config, sets)});
    }
    r.push_back({"fp8_current", train::load_config(BITSIM_SOURCE_DIR "/experiments/fp32/cnn_fashion_mnist.toml",
                                                   {"formats.W=\"current(format=fp8_e4m3)\"", "formats.A=\"current(format=fp8_e4m3)\"",
                                                    "formats.E=\"current(format=fp8_e5m2)\""})});
    return r;
  }();
  return all;
}

// A built-in model, or the ViT, whose layers its experiment config describes.
nn::ModelSpec model_spec(const std::string& name) {
  if (name != "vit") return nn::builtin_model(name, 10);
  return nn::ModelSpec{"custom", train::load_config(BITSIM_SOURCE_DIR "/experiments/modern/vit_fashion_mnist.toml").layers};
}

void train_steps(benchmark::State& state, std::optional<std::int64_t> stats_every, bool hazards = false) {
  const std::string name = kModels[state.range(0)];
  const int threads = static_cast<int>(state.range(1));
  const std::int64_t batch = name == "mlp" ? 100 : 128;
  const int scheme_id = static_cast<int>(state.range(2));
  const char* scheme_files[] = {nullptr, BITSIM_SOURCE_DIR "/experiments/banner2018/cnn_q8_rangebn_bif.toml",
                                BITSIM_SOURCE_DIR "/experiments/wageubn2019/cnn_full8.toml",
                                BITSIM_SOURCE_DIR "/experiments/graham2017/cnn_L4_all_but_first.toml"};
  const char* scheme_names[] = {" fp32", " banner2018-8bit", " wageubn-full8", " graham-L4"};
  const bool recipe = scheme_id >= 10;
  if (recipe && scheme_id - 10 >= static_cast<int>(recipes().size())) {
    state.SkipWithError("no such recipe");
    return;
  }
  const train::TrainConfig scheme = recipe      ? recipes()[static_cast<std::size_t>(scheme_id - 10)].config
                                    : scheme_id ? train::load_config(scheme_files[scheme_id])
                                                : train::TrainConfig{};
  train::LayerConfigurator configure(scheme);
  nn::Model model = nn::build_model(model_spec(name), Nchw{1, 1, 28, 28}, [&](nn::Layer& l) {
    if (scheme_id) configure(l);
  });
  nn::initialize(model, 1);
  nn::FTensor x(Nchw{batch, 1, 28, 28}), dlogits;
  const bitsim::formats::PhiloxWords rng(7);
  for (std::size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(rng.word(i)) / 4294967296.0f - 0.5f;
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(rng.word(1000000 + i) % 10);
  // WAGEUBN's optimizer is part of the scheme (momentum 1/4, 13-bit momentum, 10-bit learning rate).
  const nn::SgdConfig sgd = scheme_id == 2 ? scheme.sgd : nn::SgdConfig{};
  const bool profile = std::getenv("BITSIM_PROFILE") != nullptr;
  model.enable_timing(profile);
  std::optional<bitsim::analysis::StatsLogger> logger;
  train::TrainConfig logged = scheme;
  const std::string dir = (std::filesystem::temp_directory_path() / "bitsim-bench-stats").string();
  if (stats_every) {
    logged.stats.every = *stats_every;
    logged.run_dir = dir;
    logger.emplace().start(model, logged, 0, false, threads);
  }
  train::HazardWatch watch{train::HazardConfig{}};
  std::uint64_t step = 0;
  // Untimed warm steps first, as many as bench/pytorch_step.py's default --warmup: the first steps
  // size every buffer and fault its pages in, and a short timed sample must not include them.
  constexpr int kWarmSteps = 5;
  bitsim::sim::retain_freed_memory();
  auto one_step = [&] {
    nn::StepContext ctx;
    ctx.step = step;
    ctx.threads = threads;
    if (logger) ctx.observer = logger->observer_for(step);
    if (hazards) ctx.observer = watch.begin_step(step);
    model.round_weights(ctx);
    const nn::FTensor& logits = model.forward(ctx, x);
    const nn::LossResult r = nn::softmax_cross_entropy(logits, labels, &dlogits);
    model.round_loss_gradient(ctx, dlogits);
    model.backward(ctx, dlogits);
    nn::sgd_step(model, sgd, methods::wageubn_learning_rate(0.01, sgd.lr_bits), ctx);
    if (logger) logger->end_step(train::StepRecord{step, r.loss, 0, 0.01});
    if (hazards) benchmark::DoNotOptimize(watch.end_step(r.loss));
    ++step;
    benchmark::DoNotOptimize(r.loss);
  };
  for (int i = 0; i < kWarmSteps; ++i) one_step();
  step = 0;
  if (profile) (void)model.timing_report();  // clears the per-layer times: the report covers timed steps only
  for (auto _ : state) one_step();
  if (logger) {
    state.counters["stats_s/step"] = logger->seconds() / static_cast<double>(state.iterations());
    logger->finish();
    std::filesystem::remove_all(dir);
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch * static_cast<std::int64_t>(state.iterations())),
                                                  benchmark::Counter::kIsRate);
  state.SetLabel(name + (recipe ? " " + recipes()[static_cast<std::size_t>(scheme_id - 10)].name : std::string(scheme_names[scheme_id])) + " batch " + std::to_string(batch) + ", " + std::to_string(threads) +
                 " thread(s)" + (stats_every ? ", stats every " + std::to_string(*stats_every) : std::string()) +
                 (hazards ? ", hazard checks every step" : ""));
  if (profile) std::cerr << name << ", " << threads << " thread(s), " << state.iterations() << " steps:\n" << model.timing_report();
}

void BM_TrainStep(benchmark::State& state) { train_steps(state, std::nullopt); }
void BM_TrainStepLogged(benchmark::State& state) { train_steps(state, state.range(3)); }
void BM_TrainStepChecked(benchmark::State& state) { train_steps(state, std::nullopt, state.range(3) != 0); }

}  // namespace

BENCHMARK(BM_TrainStep)->ArgsProduct({{0, 1, 2, 3, 4}, {1, 2}, {0}})->Unit(benchmark::kMillisecond)->UseRealTime();
// The 8-bit scheme on the models with convolutions (its Range BN needs batch * H * W divisible by 16).
BENCHMARK(BM_TrainStep)->ArgsProduct({{0, 1}, {1, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
// Graham 2017's stored 4-bit N(x): the cost of rounding and packing against scheme 0.
BENCHMARK(BM_TrainStep)->ArgsProduct({{0, 1, 3}, {1, 2}, {3}})->Unit(benchmark::kMillisecond)->UseRealTime();
// Statistics logging on the small CNN, fp32 and the 8-bit scheme: never (stats.every = 0, the
// baseline with the same 30 iterations), every 10 steps (the documented budget: under 10% of step
// time) and every step. Iterations are fixed at a multiple of 10 so each run logs exactly a tenth (or
// all) of its steps.
BENCHMARK(BM_TrainStepLogged)->ArgsProduct({{0}, {1, 2}, {0, 1}, {0, 10, 1}})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
// Hazard checks at every step on the small CNN, fp32 and the 8-bit scheme, against the same 30 steps
// without them (last argument 0).
BENCHMARK(BM_TrainStepChecked)->ArgsProduct({{0}, {1, 2}, {0, 1}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);
// Each recipe against fp32 (scheme 10, the table's first row) on the small CNN, 1 and 2 threads
// (scheme ids 10 + index into recipes(): the table's 8 rows, then current scaling).
BENCHMARK(BM_TrainStep)->ArgsProduct({{0}, {1, 2}, {10, 11, 12, 13, 14, 15, 16, 17, 18}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
