#include "sim/train/loss_scaling.hpp"

#include <algorithm>
#include <cmath>

namespace bitsim::sim::train {

LossScaler::LossScaler(const LossScaleConfig& config, const LossScaleState& state) : cfg_(config), state_(state) {
  if (cfg_.mode == LossScaleMode::none) state_ = LossScaleState{1, 0};
  else if (state_.scale == 0) state_.scale = cfg_.init;
}

bool LossScaler::unscale(nn::Model& model) const {
  bool finite = true;
  const float inv = static_cast<float>(1.0 / state_.scale);  // a power of two: exact
  for (auto& [name, p] : model.parameters())
    for (float& g : p->grad.data) {
      if (inv != 1.0f) g = g * inv;
      finite = finite && std::isfinite(g);
    }
  return finite;
}

bool LossScaler::end_step(bool finite) {
  if (cfg_.mode != LossScaleMode::dynamic) return false;
  constexpr double kSmallest = 0x1p-126, kLargest = 0x1p127;  // S stays a normal float
  if (!finite) {
    state_.scale = std::max(state_.scale / 2, kSmallest);
    state_.clean_steps = 0;
    return true;
  }
  if (++state_.clean_steps >= cfg_.growth_interval) {
    state_.scale = std::min(state_.scale * 2, kLargest);
    state_.clean_steps = 0;
  }
  return false;
}

}  // namespace bitsim::sim::train
