// A sweep: the training runs behind one ablation table, as data (`bitsim sweep SWEEP.toml`,
// docs/sweeps.md). The file names rows (a base config plus --set overrides each) and, optionally, a
// grid of overrides whose cartesian product multiplies the rows; every row is trained once per seed.
//
//   title = "..."
//   seeds = [1, 2, 3]
//   out = "experiments/x/results"        # table.md, table.csv (and the report) go here
//   runs_root = "runs/x"                 # run folders: <runs_root>/<row id>/seed<S>
//   base = "experiments/x/base.toml"     # the config of rows that name none (and of the grid alone)
//   set = ["train.epochs=2"]             # overrides of every run
//   reference_row = "fp32"               # deltas are against this row's mean (optional)
//   workers = 2                          # runs at a time (optional; --workers overrides)
//   threads = 1                          # bitsim train --threads of each run (optional)
//   keep_checkpoints = false             # delete a run's checkpoint once it finished (default true):
//                                        # tables committed with their run folders keep only the
//                                        # checkpoints of unfinished runs (docs/sweeps.md)
//   reuse_from = ["experiments/y.toml"]  # a run identical to a finished run of these sweeps (same
//                                        # config, seed and overrides) is copied, not trained again
//
//   [[row]]                              # zero or more; none: one row "base" of the base config
//   id = "fp32"                          # letters, digits, '.', '_', '=', '-'; unique
//   label = "fp32 baseline"              # optional (default: the id)
//   config = "experiments/x/fp32.toml"   # optional (default: base)
//   set = ["formats.W=fp32"]             # optional
//   paper = "90.1% (Table 2)"            # optional: the reference the table prints beside our result
//
//   [grid]                               # optional: every row x every combination of these values
//   "formats.W" = ["fp8_e4m3", "fp8_e5m2"]
//   "optimizer.lr" = [0.05, 0.1]
//
// Paths are relative to the current directory (as bitsim train's own paths are). A grid row's id is
// the row's id followed by the values ("fp32-W=fp8_e4m3-lr=0.05": the last part of each key; other
// characters than letters, digits, '.', '_', '=', '-' become '_'), its label likewise ("fp32, W=...");
// without [[row]] tables, the values alone ("W=fp8_e4m3-lr=0.05"). Grid keys are taken in sorted order. Everything is validated before anything runs; errors name the file and the key.
#pragma once

#include "io/error.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::sweep {

class SweepError : public bitsim::Error {
 public:
  using Error::Error;
};

struct SweepRow {
  std::string id, label, config;
  std::vector<std::string> sets;  // the row's own overrides (grid values included), in order
  std::string paper;
  std::int64_t config_line = 0;  // line of the sweep file that names `config` (its own, or `base`)
};

struct SweepPlan {
  std::string source;  // the sweep file
  std::string title;
  std::vector<std::uint64_t> seeds;
  std::string out, runs_root;
  std::vector<std::string> sets;  // every run's overrides (after the row's)
  std::optional<std::string> reference_row;
  std::int64_t workers = 1, threads = 1;
  bool keep_checkpoints = true;  // false: a finished run's checkpoint.bin is deleted (its digest stays in result.json)
  std::vector<std::string> reuse_from;  // sweep files whose identical finished runs are copied (docs/sweeps.md)
  std::vector<SweepRow> rows;
};

// Reads and validates a sweep file. Throws SweepError naming the file (and line) and key.
SweepPlan load_plan(const std::string& path);
SweepPlan parse_plan(const std::string& text, const std::string& source);

// One training run of the sweep.
struct SweepRun {
  std::size_t row = 0;  // index into plan.rows
  std::uint64_t seed = 0;
  std::string dir;      // <runs_root>/<row id>/seed<S>
  // `bitsim train` arguments after "train": config, --set seed=S, --set run.dir=D, the row's and the
  // plan's overrides, --no-progress --quiet --threads T (the runner adds --overwrite or --resume).
  std::vector<std::string> args;
  // The overrides that make two runs of a row comparable (row's + plan's), recorded in the run folder.
  std::vector<std::string> identity;
};

// Every (row, seed) in row order, then seed order.
std::vector<SweepRun> expand(const SweepPlan& plan);

// The words as one shell command line: a word of other characters than letters, digits and
// `_-.,/=:+@%` is put in single quotes, so that `eval` or a copy into a shell gives back the words.
std::string shell_words(const std::vector<std::string>& words);

// A run's command as the sweep records it in its folder and --list prints it: "bitsim train ARGS"
// (the runner adds --overwrite or --resume).
std::string train_command(const SweepRun& run);

}  // namespace bitsim::sweep
