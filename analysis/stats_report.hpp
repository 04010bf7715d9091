// Tables made from statistics files: what `bitsim stats` prints (one run, or two compared).
#pragma once

#include "analysis/stats_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::analysis {

// Which sites a table shows.
struct SiteFilter {
  std::vector<std::string> roles;   // e.g. {"E", "G"}; empty: all
  std::vector<std::string> layers;  // name patterns ('*' any run of characters); empty: all
  bool matches(const std::string& role, const std::string& layer) const;
  bool matches(const SiteMeta& s) const { return matches(s.role, s.layer); }
};

// One site's row at one step, with figures derived from its log2 histogram of `after`.
struct SiteSummary {
  const SiteMeta* site = nullptr;
  StatsRow row;
  double mean_log2 = 0;  // mean of floor(log2|x|) over the non-zero finite values (NaN: none)
  std::vector<std::uint64_t> hist;  // hist_after of that row
};

// The step a table shows: `step` if given (StatsFileError if it was not logged), else the last
// committed one (StatsFileError if there is none).
std::uint64_t choose_step(const StatsReader& r, std::optional<std::uint64_t> step);

std::vector<SiteSummary> summarize(const StatsReader& r, std::uint64_t step, const SiteFilter& filter);

// Fixed-width text table, one line per site: layer, site, quantizer, count, std, max|x|, zeros %,
// underflow %, saturated % (saturated + overflow), SNR dB, utilization %.
std::string summary_table(const std::vector<SiteSummary>& rows);
// Every field of every site's row, plus its identity, as CSV (header line first).
std::string summary_csv(const std::vector<SiteSummary>& rows);

// Total variation distance (0: same distribution, 1: disjoint) between two tensors' distributions of
// floor(log2|x|), with exact zeros as one more bin (non-finite values are left out).
double histogram_distance(const std::vector<std::uint64_t>& ha, std::uint64_t zeros_a, const std::vector<std::uint64_t>& hb,
                          std::uint64_t zeros_b);

// The sites present in both files, compared at one step each: std and max|x| of `after`, the ratio
// B / A of std, mean log2|x| of each, the histogram distance, and the SNR of each.
std::string compare_table(const std::vector<SiteSummary>& a, const std::vector<SiteSummary>& b, std::uint64_t step_a,
                          std::uint64_t step_b);

}  // namespace bitsim::analysis
