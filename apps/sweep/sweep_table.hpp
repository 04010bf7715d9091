// The table of a sweep: test error per row over its seeds (mean, sample sd, min-max), the difference
// to the reference row, the mean training time, and the row's `paper` reference, as Markdown and CSV
// (the same columns as experiments/banner2018/ablation.py wrote, so earlier tables stay comparable).
#pragma once

#include "apps/sweep/sweep_plan.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bitsim::sweep {

struct RowStats {
  const SweepRow* row = nullptr;
  std::size_t n = 0;                                  // seeds with a result
  std::vector<std::pair<std::uint64_t, double>> per_seed;  // (seed, test error %)
  bool held_out = false;  // a run was evaluated on held-out training samples (data.holdout), not the test set
  std::optional<double> mean, sd, min, max, delta, seconds;
  // The smallest difference from the reference row's mean that a two-sided t-test at 5% calls
  // significant at these two rows' spreads: t(0.975, n + n_ref - 2) * s_pooled * sqrt(1/n + 1/n_ref),
  // s_pooled^2 = ((n - 1) sd^2 + (n_ref - 1) sd_ref^2) / (n + n_ref - 2). Both rows need 2 results.
  std::optional<double> resolvable;
};

// Test error = 100 (1 - test accuracy) of every (row, seed) whose folder holds a result.
std::vector<RowStats> aggregate(const SweepPlan& plan);

// table.md's body and the CSV (header: id,label,n,err_mean,err_std,err_min,err_max,delta_vs_ref,
// delta_resolvable,train_seconds_mean,per_seed,paper).
std::string markdown_table(const SweepPlan& plan, const std::vector<RowStats>& stats);
std::string csv_table(const std::vector<RowStats>& stats);
// table.md: a title, how it was made (seeds, command line, version, then `provenance`:
// sweep_provenance.hpp), then the table.
std::string markdown_document(const SweepPlan& plan, const std::vector<RowStats>& stats, const std::string& command,
                              const std::string& provenance);

// sweep.json: what `bitsim report` reads: title, seeds, the reference row, and per row its id, label,
// paper text and run folders (with each run's seed).
std::string sweep_json(const SweepPlan& plan);

}  // namespace bitsim::sweep
