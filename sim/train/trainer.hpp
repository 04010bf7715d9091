// The training loop behind `bitsim train`: data, model, optimizer, evaluation, run folder, checkpoints.
//
// One optimizer step (step s, counted from 0 over the whole run):
//   round weights to W -> forward (training mode) -> softmax cross-entropy, dL/dlogits rounded to the
//   last layer's E -> backward -> lr = schedule(s) -> SGD step (sim/nn/optimizer.hpp)
// Every random choice is keyed by the config's seed: initialization, the data order and augmentation
// of each epoch (sim/data/batches.hpp), and the stochastic-rounding words of each rounding site at each
// step (sim/nn/role.hpp). Nothing depends on the thread count or on timing, so two runs with the same
// config give bit-identical weights, and so does a run resumed from any checkpoint.
//
// Run folder (TrainConfig::run_dir): config.toml (resolved), model.txt (layer table), metrics.csv (one
// row per epoch), checkpoint.bin, result.json (final figures and a digest of the final weights). Every
// file is written atomically. A fresh (not resumed) start first deletes those of an earlier run, and
// its stats.h5: the statistics file is written by a TrainingMonitor (analysis/stats_logger.hpp).
// hazards.csv lists every numerical hazard found ([hazards], sim/train/hazards.hpp); a resume drops its
// rows of steps that are redone.
//
// Stopping: train.stop_after_steps, or TrainOptions::stop_requested (set by `bitsim train`'s SIGINT /
// SIGTERM handler), ends the loop after the current step with a checkpoint and the statistics file
// closed; resuming gives the same final result as an uninterrupted run.
#pragma once

#include "sim/train/collective.hpp"
#include "sim/train/config.hpp"
#include "sim/train/monitor.hpp"

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace bitsim::sim::train {

struct TrainOptions {
  bool resume = false;          // continue from run_dir/checkpoint.bin
  bool overwrite = false;       // start afresh even if run_dir holds a checkpoint
  int threads = 0;              // > 0 overrides the config (results do not depend on it)
  bool progress = true;         // progress bar on stderr
  std::ostream* log = nullptr;  // per-epoch lines (nullptr: none)
  TrainingMonitor* monitor = nullptr;  // watches the steps (statistics); never changes results
  Collective* collective = nullptr;       // data-parallel ranks (sim/train/collective.hpp); nullptr: one process
  std::ostream* warnings = nullptr;       // hazard warnings, once per site and kind (nullptr: only hazards.csv)
  // When it becomes true (a signal handler may set it), training stops after the current step with a
  // checkpoint, as train.stop_after_steps does. With ranks, rank 0's flag decides for all.
  const std::atomic<bool>* stop_requested = nullptr;
};

struct TrainResult {
  bool finished = false;        // false when stopped by train.stop_after_steps or stop_requested
  bool interrupted = false;     // stopped because stop_requested became true
  std::int64_t hazards = 0;     // hazards reported as warnings (hazards.csv rows of this process)
  std::int64_t steps = 0;
  double test_accuracy = 0;     // after the last completed epoch (0..1)
  double test_loss = 0;
  double train_seconds = 0;     // training steps only, summed over resumes
  std::string weights_digest;   // FNV-1a of every stored parameter and buffer, hex
};

// Throws ConfigError / CheckpointError / data::DatasetError / std::runtime_error with a message that
// names what is wrong; HazardError when a hazard with the action "stop" ends the run (and when a value
// reaches a format that cannot take it, e.g. NaN into int8, which no action can step over).
TrainResult run_training(const TrainConfig& config, const TrainOptions& options);

// The part of the resolved config that must match for a resume (threads, stop_after_steps and
// checkpoint_every_steps may differ: they do not change results).
std::string identity_config(const TrainConfig& c);

}  // namespace bitsim::sim::train
