// Numerical hazards of a training run, reported instead of hidden ([hazards] in the config;
// docs/training.md, docs/RELIABILITY.md).
//
// At every checked step (every `check_every` steps) a HazardWatch sees every rounding site of the step
// (weights, forward, backward, optimizer) and counts, per site:
//   * non-finite: NaN or +-Inf values. Where they come from is told apart: "non-finite input" when the
//     values reaching the site already held them (the layer's own fp32 arithmetic overflowed, or they
//     came from upstream), "overflow" when finite values became Inf or NaN in this site's format.
//     Only the first such site of a step is recorded (execution order), since everything downstream
//     inherits the NaN: that first site is where it was born.
//   * saturation: values clamped to an end of the format's finite range (|before| beyond the largest
//     finite value, after == that value; formats/format_limits.hpp). A site whose saturated fraction
//     exceeds `saturation` is a hazard. Range and WAGEUBN quantizers follow the tensor and never count.
// A non-finite loss is a non-finite hazard too (its origin, when the step was checked, is the site above).
// Each hazard is written to `hazards.csv` in the run folder and, the first time per site and kind, as
// a warning; with the action "stop" the run ends with a HazardError naming step, layer, role and tensor
// after the step's statistics are written, and no checkpoint of that step is made (the previous one
// stays the last).
#pragma once

#include "io/error.hpp"
#include "sim/nn/layer.hpp"
#include "sim/train/step_csv.hpp"

#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace bitsim::sim::train {

enum class HazardAction { ignore, warn, stop };
const char* hazard_action_name(HazardAction a);

// [hazards]. Hazard checks only read values, so these keys may differ on a resume.
struct HazardConfig {
  HazardAction on_nonfinite = HazardAction::stop;  // stop | warn
  HazardAction on_saturation = HazardAction::warn;  // stop | warn | ignore
  double saturation = 0.01;                         // largest tolerated saturated fraction of one tensor (0..1)
  std::int64_t check_every = 1;                     // check steps 0, k, 2k, ... (the loss: every step)
  bool operator==(const HazardConfig&) const = default;
};

// A run stopped by a hazard (its action was "stop"): `bitsim train` exits with status 3.
class HazardError : public bitsim::Error {
 public:
  using Error::Error;
};

struct Hazard {
  enum class Kind { nonfinite_input, overflow, saturation, nonfinite_loss };
  Kind kind = Kind::nonfinite_input;
  std::uint64_t step = 0;
  std::string layer, layer_kind, role, tensor, quantizer;  // empty for nonfinite_loss
  std::uint64_t count = 0, elements = 0;                   // offending values, tensor size
  double loss = 0;                                         // nonfinite_loss: the loss
  // "step 12: layer conv2 (conv), role E: 3 of 1024 values (0.29%) NaN or Inf after rounding to fp8_e5m2
  // (finite before: the format overflowed)".
  std::string message() const;
  static const char* kind_name(Kind k);  // "nonfinite_input", "overflow", "saturation", "nonfinite_loss"
};

class HazardWatch final : public nn::RoundingObserver {
 public:
  explicit HazardWatch(const HazardConfig& config) : cfg_(config) {}

  // Before step `step` runs: this watch as the step's observer, or nullptr when the step is not checked.
  nn::RoundingObserver* begin_step(std::uint64_t step);
  void on_rounding(const nn::RoundingEvent& event) override;
  // After the step (optimizer included), with its loss: the hazards it found, in order. A non-finite
  // loss is added as nonfinite_loss unless the step already located a non-finite site.
  std::vector<Hazard> end_step(double loss);
  // The action configured for a hazard.
  HazardAction action(const Hazard& h) const;

 private:
  HazardConfig cfg_;
  bool active_ = false;
  std::uint64_t step_ = 0;
  bool nonfinite_seen_ = false;
  std::vector<Hazard> found_;
};

// What a run does with the hazards it finds: hazards.csv in the run folder (created with its header
// on a fresh start; on a resume from step `first_step` the rows of steps to be redone are dropped;
// one row appended per hazard, in a single write, so a kill leaves whole rows only) and the warnings.
class HazardLog {
 public:
  // `csv_path` empty: no file (ranks other than 0); `warnings` nullptr: no warnings.
  HazardLog(std::string csv_path, bool resume, std::uint64_t first_step, std::ostream* warnings);
  // Logs each hazard whose action is not "ignore" and warns the first time per site and kind for
  // those whose action is "warn". Returns the message of the first whose action is "stop" (empty: none).
  // `nonfinite_handled`: dynamic loss scaling skipped the step, so its non-finite sites (not a
  // non-finite loss) are logged and warned but never stop the run.
  std::string report(const std::vector<Hazard>& found, const HazardWatch& watch, bool nonfinite_handled = false);
  // Hazards reported as warnings so far.
  std::int64_t warnings() const { return warnings_; }

 private:
  StepCsv csv_;
  std::ostream* out_;
  std::set<std::tuple<std::string, std::string, std::string, int>> warned_;  // (layer, role, tensor, kind)
  std::int64_t warnings_ = 0;
};

// The CSV header of hazards.csv and one row of it (fields quoted where needed).
std::string hazards_csv_header();
std::string hazards_csv_row(const Hazard& h);

}  // namespace bitsim::sim::train
