// Statistics of one tensor before and after a rounding: the numbers the HDF5 statistics file holds per
// layer, role and logged step (docs/hdf5-schema.md defines each field; analysis/stats_logger.hpp
// collects them during training).
//
// Definitions (n = number of elements; moments over the finite values only, in double):
//   mean, std (population: divide by the finite count), min, max, absmax = max |x|,
//   skewness = m3 / m2^1.5 and kurtosis = m4 / m2^2 (Pearson's: 3 for a normal; NaN when m2 = 0),
//   where mk = (1/n_finite) sum (x - mean)^k, computed in a second pass after the mean.
//   zeros: x == 0 (either sign); pos_inf, neg_inf, nan: the non-finite values.
//   Histogram: bin i counts the non-zero finite x with floor(log2|x|) = i + kHistMinExponent, i.e.
//   2^(i-1074) <= |x| < 2^(i-1073): fixed integer bins covering every double, so files of different
//   runs and formats line up bin for bin. Zeros and non-finite values are counted above, not in bins.
// Rounding effects (pairs with a finite `before`):
//   underflow: before != 0 and after == 0 (flushed to zero by the rounding);
//   saturated: before > max_finite and after == max_finite, or before < min_finite and after ==
//   min_finite (clamped to an end of the format's range; two's complement fixed point is asymmetric);
//   overflow:  after is +-inf or NaN (the format overflowed to infinity or NaN);
//   mse = mean (after - before)^2 over pairs where both are finite;
//   snr_db = 10 log10(sum before^2 / sum (after - before)^2) over the same pairs (+inf when the
//   rounding changed nothing; NaN when both sums are 0).
//   distinct: how many different values `after` holds (bit patterns of the non-NaN values, so -0 and
//   +0 are two, as they are two codes), counted when the quantizer has at most 2^16 codes (else 0);
//   utilization = distinct / codes (NaN when not counted).
// Sums run over fixed blocks of 2^15 elements (8 interleaved accumulators each) combined in block
// order, so the same tensors give bit-identical numbers whatever the thread count.
#pragma once

#include "formats/format_limits.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace bitsim::analysis {

inline constexpr int kHistMinExponent = -1074;  // floor(log2) of the smallest positive double
inline constexpr int kHistMaxExponent = 1023;   // floor(log2) of the largest finite double
inline constexpr int kHistBins = kHistMaxExponent - kHistMinExponent + 1;  // 2098
// distinct is counted for quantizers of at most 2^16 codes (0 for wider ones, utilization NaN), and
// stops at kDistinctCap.
inline constexpr std::uint64_t kDistinctMaxCodes = std::uint64_t{1} << 16;
inline constexpr std::uint64_t kDistinctCap = kDistinctMaxCodes + 1;

// Bin of a non-zero finite value: floor(log2|x|) - kHistMinExponent, exact (read from the bits).
int log2_bin(double x);
int log2_bin(float x);

// What is known of the rounding that produced `after`: the finite range of its format (unknown, i.e.
// infinite, for quantizers whose range follows the tensor) and its number of codes (0: unknown, no
// utilization).
using RoundingLimits = formats::FiniteLimits;

// Summary of one side (before or after) of a rounding.
struct SideStats {
  std::uint64_t finite = 0, zeros = 0, pos_inf = 0, neg_inf = 0, nan = 0;
  double mean = 0, std = 0, min = 0, max = 0, absmax = 0, skewness = 0, kurtosis = 0;
  std::vector<std::uint64_t> hist;  // kHistBins counts
};

struct TensorStats {
  std::uint64_t count = 0;
  SideStats before, after;
  std::uint64_t underflow = 0, saturated = 0, overflow = 0;
  double mse = 0, snr_db = 0;
  std::uint64_t distinct = 0;  // of `after`, capped at kDistinctCap
  double utilization = std::numeric_limits<double>::quiet_NaN();  // distinct / codes (NaN: codes unknown)
};

// The summary of one array (used for each side; `hist` is resized and filled).
void side_stats(std::span<const float> x, SideStats& out, int threads = 1);

// Counts the different non-NaN bit patterns of x, stopping at kDistinctCap. Reuses `table` (scratch).
std::uint64_t count_distinct(std::span<const float> x, std::vector<std::uint32_t>& table);

// All statistics of a rounding before -> after (same size; std::invalid_argument otherwise). `scratch`
// is reused between calls so logging allocates nothing once warm.
void tensor_stats(std::span<const float> before, std::span<const float> after, const RoundingLimits& limits,
                  TensorStats& out, std::vector<std::uint32_t>& scratch, int threads = 1);

// tensor_stats(x, x, ...) for a rounding that changed nothing (an identity role), computing one side.
void identity_stats(std::span<const float> x, const RoundingLimits& limits, TensorStats& out,
                    std::vector<std::uint32_t>& scratch, int threads = 1);

}  // namespace bitsim::analysis
