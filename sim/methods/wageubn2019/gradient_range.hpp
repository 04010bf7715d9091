// WAGEUBN's schedule of the weight gradients' dynamic range (Yang et al. 2019: the constant quantizer's
// gscale falls as training goes on). The trainer asks gscale_at() before each step and, when a
// schedule is set (schedule.gscale, schedule.gscale_milestones), gives every constant-quantized G role
// that range with set_gradient_range().
#pragma once

#include "sim/nn/model.hpp"
#include "sim/nn/optimizer.hpp"

#include <cstdint>

namespace bitsim::sim::methods {

// The scheduled gscale at `step`: gscale[0] from the start, gscale[i] from epoch gscale_milestones[i-1]
// on; 0 without a schedule.
std::int64_t gscale_at(const nn::ScheduleConfig& s, std::int64_t step, std::int64_t steps_per_epoch);
// Sets the dynamic range of every constant-quantized G role of the model to `gscale` (a power of two
// in 2..2^24), keeping bits, const_bits and rounding.
void set_gradient_range(nn::Model& model, std::int64_t gscale);

}  // namespace bitsim::sim::methods
