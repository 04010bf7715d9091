// The training monitor that writes the HDF5 statistics file ([stats] in the config; schema in
// analysis/stats_schema.hpp and docs/hdf5-schema.md).
//
// At every logged step (step % stats.every == 0) it sees every rounding site of the step: each layer's
// W (per parameter), A, DY, DY_W, E, G, BN_* roles and the optimizer's U, M, V, W_MASTER, identity roles
// included (their "after" equals "before"), and the E roundings of dL/dlogits (tensor "loss") and of a
// gradient summed over several consumers (tensor "sum"). For each, it computes the TensorStats of before and after
// (analysis/tensor_stats.hpp) and, with stats.sample > 0, keeps a reproducible random sample of the
// raw values; it writes them as one row of the site's datasets, and commits the step (flush) after
// the optimizer update. Steps not logged cost nothing: the observer is not installed.
#pragma once

#include "analysis/stats_report.hpp"
#include "analysis/stats_writer.hpp"
#include "sim/train/monitor.hpp"

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::analysis {

class StatsLogger final : public sim::train::TrainingMonitor, public sim::nn::RoundingObserver {
 public:
  // `warnings`: where a damaged file found on resume is reported (it is set aside as PATH.damaged).
  explicit StatsLogger(std::ostream* warnings = nullptr) : warnings_(warnings) {}

  void start(sim::nn::Model& model, const sim::train::TrainConfig& config, std::uint64_t first_step, bool resumed,
             int threads) override;
  sim::nn::RoundingObserver* observer_for(std::uint64_t step) override;
  void on_rounding(const sim::nn::RoundingEvent& event) override;
  void end_step(const sim::train::StepRecord& record) override;
  void finish() override;

  // The file's path (valid after start).
  const std::string& path() const { return path_; }
  std::uint64_t logged_steps() const { return logged_; }
  double seconds() const { return seconds_; }  // wall time spent computing and writing statistics

 private:
  bool wanted(const sim::nn::RoundingEvent& e) const;

  std::ostream* warnings_;
  sim::train::StatsConfig cfg_;
  SiteFilter filter_;  // stats.roles and stats.layers
  std::uint64_t seed_ = 0;
  int threads_ = 1;
  std::string path_;
  std::optional<StatsWriter> writer_;
  std::map<const sim::nn::Layer*, std::int64_t> node_of_;
  std::map<std::string, int> seen_this_step_;  // site path without occurrence -> times seen
  std::uint64_t step_ = 0;
  bool active_ = false;
  std::uint64_t logged_ = 0;
  double seconds_ = 0;
  TensorStats stats_;
  std::vector<std::uint32_t> scratch_;
  std::vector<std::uint64_t> sample_index_;
  std::vector<float> sample_before_, sample_after_;
};

// Indices of a reproducible uniform sample of k distinct elements of n (sorted; all of them when
// n <= k), keyed by `seed`.
std::vector<std::uint64_t> sample_indices(std::uint64_t n, std::uint64_t k, std::uint64_t seed);

}  // namespace bitsim::analysis
