// A hook into the training loop for tools that watch a run without changing it (analysis/'s HDF5
// statistics logger). sim/ defines the interface; analysis/ implements it, so sim/ never depends on
// analysis/. Nothing a monitor does may change a result: it only reads.
#pragma once

#include "sim/nn/layer.hpp"
#include "sim/nn/model.hpp"
#include "sim/train/config.hpp"

#include <cstdint>

namespace bitsim::sim::train {

// What the loop knows about one finished optimizer step.
struct StepRecord {
  std::uint64_t step = 0;  // the step that just ran (counted from 0 over the whole run)
  double loss = 0;         // mean cross-entropy of its batch
  double accuracy = 0;     // fraction of its batch classified correctly
  double lr = 0;           // learning rate the optimizer used
};

class TrainingMonitor {
 public:
  virtual ~TrainingMonitor() = default;
  // Once, after the model is built (and restored, on a resume) and before the first step runs;
  // `first_step` is the step training continues from (0 unless resumed); `threads` the run's threads.
  virtual void start(nn::Model& model, const TrainConfig& config, std::uint64_t first_step, bool resumed, int threads) = 0;
  // The observer that sees every rounding of step `step` (weights, forward, backward, optimizer), or
  // nullptr when this step is not watched (then the step costs nothing extra).
  virtual nn::RoundingObserver* observer_for(std::uint64_t step) = 0;
  // After the step's optimizer update, before any checkpoint of that step is written.
  virtual void end_step(const StepRecord& record) = 0;
  // Once, when the loop ends (finished or stopped by train.stop_after_steps).
  virtual void finish() = 0;
};

}  // namespace bitsim::sim::train
