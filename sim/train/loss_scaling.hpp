// Loss scaling ([loss_scale] in the config; docs/training.md, "Loss scaling"): dL/dlogits is
// multiplied by a power of two S before its rounding to E, so that small gradients survive formats
// with little range below 1 (fp16, fp8); every parameter gradient is multiplied by 1/S after the
// backward pass (and the gradients' all-reduce), before the optimizer.
//   static:  S fixed. A non-finite gradient is a hazard like any other.
//   dynamic: S starts at `init`; a step whose unscaled gradients hold a NaN or Inf is skipped (no
//            optimizer update: weights, moments and Adam's step count unchanged) and S halves; after
//            `growth_interval` consecutive clean steps S doubles (PyTorch's GradScaler with its
//            default factors 2 and 1/2). The non-finite hazards of a skipped step are logged and
//            warned, never a stop: the scaler handled them. A non-finite loss is not the scale's
//            doing (the forward pass overflowed) and stays a hazard.
// S and the count of clean steps are part of the checkpoint; loss_scale.csv logs every step.
#pragma once

#include "sim/nn/model.hpp"

#include <cstdint>
#include <string>

namespace bitsim::sim::train {

enum class LossScaleMode { none, fixed, dynamic };  // config names (config_schema.cpp): none, static, dynamic

struct LossScaleConfig {
  LossScaleMode mode = LossScaleMode::none;
  double init = 65536;                   // S at step 0: a power of two, 2^-126 .. 2^127
  std::int64_t growth_interval = 2000;   // dynamic: clean steps before S doubles
  bool operator==(const LossScaleConfig&) const = default;
};

// The scaler's state between steps (checkpointed).
struct LossScaleState {
  double scale = 0;              // 0: not started (the config's init)
  std::int64_t clean_steps = 0;  // consecutive clean steps since S last changed
};

class LossScaler {
 public:
  LossScaler(const LossScaleConfig& config, const LossScaleState& state);
  bool enabled() const { return cfg_.mode != LossScaleMode::none; }
  // S for this step (1 when off).
  float scale() const { return static_cast<float>(state_.scale); }
  // Multiplies every parameter gradient by 1/S (exact unless a product falls below float's normals)
  // and says whether all of them are finite.
  bool unscale(nn::Model& model) const;
  // After the step's gradients were unscaled: whether to skip the optimizer (dynamic and not finite),
  // and S and the clean count updated for the next step.
  bool end_step(bool finite);
  const LossScaleState& state() const { return state_; }

 private:
  LossScaleConfig cfg_;
  LossScaleState state_;
};

}  // namespace bitsim::sim::train
