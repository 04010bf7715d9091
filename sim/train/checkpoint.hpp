// Checkpoints: everything a run needs to continue bit-identically (stored weights, momentum buffers,
// batch-norm running statistics, the optimizer step, the loss scale, the data stream's epoch and position, the current
// epoch's running sums, and the metrics rows written so far), plus the resolved config it was made with.
//
// File layout (little-endian): "BITSIMCK", u32 version, then length-prefixed sections, then a 64-bit
// FNV-1a checksum of everything before it. Writing goes to "<path>.tmp", is flushed and fsync'ed, then
// renamed over <path>: a run killed at any moment leaves either the previous checkpoint or the new one,
// never a torn file. Reading verifies magic, version, checksum, and that every tensor's name and size
// match the model; any mismatch is a CheckpointError naming the file and what differs.
#pragma once

#include "io/error.hpp"
#include "sim/nn/model.hpp"
#include "sim/train/loss_scaling.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bitsim::sim::train {

class CheckpointError : public bitsim::Error {
 public:
  using Error::Error;
};

// A run started fresh (neither resumed nor overwritten) in a folder that already holds a checkpoint;
// site().file is the folder.
class RunFolderTaken : public CheckpointError {
 public:
  using CheckpointError::CheckpointError;
};

// A resume asked of a run folder without checkpoint; site().file is the checkpoint's path.
class NothingToResume : public CheckpointError {
 public:
  using CheckpointError::CheckpointError;
};

struct RunState {
  std::uint64_t step = 0;           // optimizer steps done
  std::uint64_t data_epoch = 0;     // BatchStream::State
  std::int64_t data_position = 0;
  double epoch_loss_sum = 0;        // running sums of the current epoch
  std::int64_t epoch_correct = 0, epoch_samples = 0, epoch_steps = 0;
  double elapsed_seconds = 0;       // training time before this checkpoint
  std::string metrics_csv;          // metrics rows written so far (header included)
  LossScaleState loss_scale;        // the loss scaler's S and clean-step count
  std::uint64_t optimizer_steps = 0;  // updates made: `step` minus the steps loss scaling skipped (Adam's t)
};

void save_checkpoint(const std::string& path, const std::string& resolved_config, nn::Model& model, const RunState& state);
// Loads into `model` (which must have been built from the same config) and returns the run state.
// Throws CheckpointError, also when the checkpoint's config differs from `resolved_config`.
RunState load_checkpoint(const std::string& path, const std::string& resolved_config, nn::Model& model);

}  // namespace bitsim::sim::train
