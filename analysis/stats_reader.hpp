// Reads an HDF5 statistics file (schema: analysis/stats_schema.hpp): what `bitsim stats` and the tests
// use. Opens read-only without file locking, so a file being written by a running training can be read.
#pragma once

#include "analysis/stats_schema.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::analysis {

struct SiteMeta : SiteInfo {
  std::string group;   // the HDF5 path of the site's group
  std::uint64_t rows = 0;
};

class StatsReader {
 public:
  // Throws StatsFileError naming the file when it is missing, not HDF5, not a bitsim statistics file,
  // of a newer schema, or damaged.
  explicit StatsReader(const std::string& path);
  StatsReader(StatsReader&&) noexcept;
  ~StatsReader();

  const std::string& path() const;
  std::int64_t schema_version() const;
  // A string attribute of the root ("config", "model", "run_name", "bitsim_version"); empty if absent.
  std::string root_string(const char* name) const;
  std::int64_t every() const;
  // The committed steps, in order.
  const std::vector<StepRow>& steps() const;
  // Every site, in model order (node, then first-seen order).
  const std::vector<SiteMeta>& sites() const;
  // Index of the site with group path `group` ("/layers/conv1/E"), if present.
  std::optional<std::size_t> find(const std::string& group) const;
  // Every row of a site's `stats` (at most as many as committed steps).
  std::vector<StatsRow> rows(std::size_t site) const;
  // The row of a site for `step`, if it was logged.
  std::optional<StatsRow> row_at(std::size_t site, std::uint64_t step) const;
  // Row `row` of hist_before (after = false) or hist_after: kHistBins counts.
  std::vector<std::uint64_t> hist(std::size_t site, std::uint64_t row, bool after) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitsim::analysis
