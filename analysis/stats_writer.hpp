// Writes the HDF5 statistics file (schema: analysis/stats_schema.hpp, docs/hdf5-schema.md).
//
// Crash safety: the metadata cache holds every change in memory until commit(), which writes the
// step's /steps row and flushes the file in a helper process a kill of this one does not reach
// (h5::flush_surviving_kill); so the file on disk is always the state after the last commit, and a
// process killed at any moment (SIGKILL included) leaves a file that opens with every committed step.
// The writer holds a lock on the file (io::FileLock), and the helper holds it until its flush ends.
// A new file is written as PATH.partial and renamed to PATH at its first commit, so PATH never names
// a file without a step.
#pragma once

#include "analysis/stats_schema.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace bitsim::analysis {

// The root attributes.
struct RunInfo {
  std::string name, config, model, version;
  std::uint64_t seed = 0;
  std::int64_t every = 0, sample = 0, compression = 4;
};

class StatsWriter {
 public:
  // A new file (an existing PATH is replaced at the first commit). Throws StatsFileError.
  static StatsWriter create(const std::string& path, const RunInfo& run);
  // Continues PATH from step `first_step`: rows of steps >= first_step are dropped (a resumed run
  // writes them again, identically). Throws StatsFileError when PATH is not a statistics file, and
  // StatsFileBusy when another process still holds its lock after `lock_wait_seconds`.
  static StatsWriter resume(const std::string& path, const RunInfo& run, std::uint64_t first_step,
                            double lock_wait_seconds = 60);

  StatsWriter(StatsWriter&&) noexcept;
  StatsWriter& operator=(StatsWriter&&) noexcept;
  ~StatsWriter();

  // Index of a site, creating its group and datasets (or opening them) on first use.
  int site(const SiteInfo& info);
  // Appends one row to the site's datasets. `sample_index` / `sample_before` / `sample_after` hold
  // run.sample entries each when run.sample > 0 (padded with ~0 / NaN for a smaller tensor).
  void write(int site, const StatsRow& row, const TensorStats& stats, std::span<const std::uint64_t> sample_index = {},
             std::span<const float> sample_before = {}, std::span<const float> sample_after = {});
  // Appends the step's row to /steps and flushes the file: the step is now on disk.
  void commit(const StepRow& row);
  // Rows of /steps on disk.
  std::uint64_t committed_steps() const;
  const std::string& path() const;

  struct Impl;

 private:
  explicit StatsWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitsim::analysis
