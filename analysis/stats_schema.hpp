// The HDF5 statistics file, schema version 1 (docs/hdf5-schema.md is the reference users read):
//
//   /                 attributes: schema = "bitsim-stats", schema_version = 1, bitsim_version, run_name,
//                     seed, every, sample, config (the resolved TOML), model (the layer table),
//                     hist_min_exponent = -1074, hist_bins = 2098
//   /steps            one row per logged step: {step u64, loss f64, accuracy f64, lr f64}; a step's
//                     row is written last, after all of its tensors, so its presence marks it complete
//   /layers/<layer>/<site>/   one group per layer and rounding site (role, and the parameter for W, G,
//                     U, M, V, W_MASTER: "W.weight", "G.bias", "A", "E", "BN_NORM"), with attributes
//                     layer, kind, node, role, tensor, slot, quantizer, format, format_bits, codes,
//                     max_finite, min_finite, order (the site's position in first-seen order)
//       stats         one row per logged step: the compound StatsRow below
//       hist_before, hist_after   u64 [rows, 2098]: log2|x| histograms (analysis/tensor_stats.hpp)
//       sample_index u64, sample_before f32, sample_after f32 [rows, sample]   (only when sample > 0)
//
// Every dataset is chunked, extendible along rows and deflate-compressed. Row i of every dataset of
// every site belongs to step /steps[i].step.
#pragma once

#include "io/error.hpp"
#include "analysis/tensor_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace bitsim::analysis {

inline constexpr const char* kStatsSchema = "bitsim-stats";
inline constexpr std::int64_t kStatsSchemaVersion = 1;

// A statistics file that cannot be written or read (not ours, damaged, wrong version): the message
// names the file and what is wrong.
class StatsFileError : public bitsim::Error {
 public:
  using Error::Error;
};

// The statistics file is being written by another process (a second run in the same folder): not a
// damaged file, so a resuming run must not set it aside.
class StatsFileBusy : public StatsFileError {
 public:
  using StatsFileError::StatsFileError;
};

// One row of a site's `stats` dataset (HDF5 compound type of the same field names).
struct StatsRow {
  std::uint64_t step = 0, count = 0;
  std::uint64_t before_finite = 0, before_zeros = 0, before_pos_inf = 0, before_neg_inf = 0, before_nan = 0;
  double before_mean = 0, before_std = 0, before_min = 0, before_max = 0, before_absmax = 0, before_skewness = 0,
         before_kurtosis = 0;
  std::uint64_t after_finite = 0, after_zeros = 0, after_pos_inf = 0, after_neg_inf = 0, after_nan = 0;
  double after_mean = 0, after_std = 0, after_min = 0, after_max = 0, after_absmax = 0, after_skewness = 0,
         after_kurtosis = 0;
  std::uint64_t underflow = 0, saturated = 0, overflow = 0;
  double mse = 0, snr_db = 0;
  std::uint64_t distinct = 0;
  double utilization = 0;
  std::int32_t scaled = 0;          // 1 when a WAGEUBN shift/flag/constant quantizer chose a scale
  std::int32_t scale_exponent = 0;  // that scale is 2^scale_exponent
};

StatsRow make_row(std::uint64_t step, const TensorStats& s, bool scaled, int scale_exponent);

// One logged step's figures (the /steps dataset).
struct StepRow {
  std::uint64_t step = 0;
  double loss = 0, accuracy = 0, lr = 0;
};

// What describes a rounding site (the site group's attributes).
struct SiteInfo {
  std::string layer;      // layer name ("conv1")
  std::string kind;       // layer kind ("conv")
  std::int64_t node = 0;  // index of the layer in the model
  std::string role;       // "W", "A", ...
  std::string tensor;     // parameter name for parameter roles, else empty
  std::int64_t slot = 0;
  std::string quantizer;  // RoleRounding::describe(): "fp8_e4m3 sr(R=8)", "range(bits=8) sr", "fp32"
  std::string format;     // the format's name, empty for range and WAGEUBN quantizers
  std::int64_t format_bits = 0;  // width of the codes (0: unknown)
  RoundingLimits limits;
  std::int64_t order = 0;  // position of the site in the file (first-seen order during a step)
  std::int64_t occurrence = 0;  // k-th rounding of the same (layer, role, tensor, slot) in one step

  // The group's name under /layers/<layer>/: "A", "E", "W.weight", "G.bias", "E.1" (slot 1), and
  // "#2", "#3" appended for a second, third rounding of the same site in one step.
  std::string site_name() const;
  // "/layers/<layer>/<site>" ('/' in a layer name becomes '_').
  std::string path() const;
};

// How many leading rows of a `step` column are complete steps: the rows while `step` strictly
// increases. A run killed inside a commit's flush can leave /steps one row longer than its data, a
// row that reads as zeros (HDF5's fill value); it, and anything after it, is not a committed step.
// The reader, the resuming writer and notebooks/bitsim_stats.py all apply this rule.
template <class Rows, class StepOf>
std::size_t complete_step_rows(const Rows& rows, StepOf step_of) {
  std::size_t n = 0;
  for (; n < rows.size(); ++n)
    if (n > 0 && !(step_of(rows[n]) > step_of(rows[n - 1]))) break;
  return n;
}

}  // namespace bitsim::analysis
