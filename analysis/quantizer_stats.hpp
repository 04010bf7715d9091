// How a number format distorts batch-normalized data (Graham 2017, "Low-Precision Batch-Normalized
// Activations", Table 2): draw X from a distribution, normalize it as batch norm does,
// N(X) = (X - mean) / sd, quantize Q = L(N(X)) with the format (rne), and measure the Pearson
// correlation of X and Q, the sd and mean of Q, the quantization SNR and how often the format clamped.
// `bitsim analyze quantizer` (docs/analyze.md) is the command-line front end.
//
// Two ways to get the statistics:
// - sample_stats(): Monte Carlo, from N samples drawn from Philox4x32-10 words keyed by a seed
//   (bit-identical for a given seed, format, distribution and N on a given platform; the draws use
//   std::log, std::cos and std::sqrt of the C++ library).
// - exact_normal_stats(): the population values for X ~ N(0,1), in closed form from the format's
//   cells (intervals of inputs with the same quantized value), with the normal CDF via std::erfc.
//
// Random words (formats/random_words.hpp, PhiloxWords(seed)): sample i of a set owns the word stream
// W_i(j) = PhiloxWords(seed).word(2^32 * i + j), j = 0, 1, ...; its block b is words W_i(4b..4b+3),
// i.e. the Philox block with counter 2^30 * i + b. From a pair of words (a, b):
//   k(a, b) = (a * 2^32 + b) >> 11 (the top 53 bits), U0 = k * 2^-53 in [0, 1), U1 = (k + 1) * 2^-53 in (0, 1].
// - A normal deviate from block b (Box-Muller, cosine branch only, in double):
//     z = sqrt(-2 ln U1(W0, W1)) * cos(2 pi U0(W2, W3)), with W0..W3 the block's words in order.
// - Normal sample i: the normal deviate of block 0.
// - Gamma(shape a) deviate of sample i (Marsaglia-Tsang 2000): with s = a for a >= 1 and s = a + 1 for
//   a < 1, d = s - 1/3, c = 1 / sqrt(9 d); attempt m = 0, 1, ... takes the normal deviate z of block
//   2 + 2m and u = U1(words 0, 1 of block 3 + 2m); v = (1 + c z)^3; it accepts when v > 0 and
//   ln u < z^2 / 2 + d - d v + d ln v, giving G = d v. For a < 1 the result is G * U^(1/a) with
//   U = U1(words 0, 1 of block 1) (the usual boost). Block 0 is not used by the gamma draw.
// - Student-t(df) sample i: t = Z / sqrt(V / df), Z the normal deviate of block 0 (the same Z as normal
//   sample i), V = 2 * Gamma(df / 2) (a chi-square with df degrees of freedom) from blocks 1, 2, ...
#pragma once

#include "io/error.hpp"
#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitsim::analysis {

// Bad arguments (too few samples, df <= 0, a format --exact cannot serve, ...), a degenerate sample
// (zero or non-finite variance). The message names the argument or the problem.
class AnalysisError : public bitsim::Error {
 public:
  using Error::Error;
};

enum class DistributionKind { normal, student_t };

struct Distribution {
  DistributionKind kind = DistributionKind::normal;
  double df = 3;  // degrees of freedom of the Student t (real, > 0); ignored for the normal
};

// "normal" or "student-t(df=3)".
std::string distribution_name(const Distribution& d);

// The statistics of one sample set (or, from exact_normal_stats, of the population X ~ N(0,1)).
struct QuantizerStats {
  double correlation = 0;   // Pearson correlation of X and Q (= that of N(X) and Q)
  double sd = 0;            // sd of Q, biased: sqrt(sum (Q - mean Q)^2 / N)
  double mean = 0;          // mean of Q
  double snr_db = 0;        // 10 log10(sum N(X)^2 / sum (Q - N(X))^2); +inf when every Q = N(X)
  double clamped_low = 0;   // fraction of samples with the underflow flag (Graham: index clamped at lo)
  double clamped_high = 0;  // fraction of samples with the overflow flag (Graham: index clamped at hi)
  std::int64_t samples = 0; // N; 0 for exact (population) values
};

// The largest N sample_stats accepts.
inline constexpr std::int64_t kMaxSamples = 1'000'000'000;
// The widest format exact_normal_stats accepts.
inline constexpr int kMaxExactWidth = 16;

// ---- sampling --------------------------------------------------------------------------------------

// U0 and U1 of a word pair (see the top of this file).
double uniform_closed_open(std::uint32_t a, std::uint32_t b);  // k * 2^-53, in [0, 1)
double uniform_open_closed(std::uint32_t a, std::uint32_t b);  // (k + 1) * 2^-53, in (0, 1]
// Normal sample i (block 0 of its stream).
double normal_draw(const formats::PhiloxWords& rng, std::uint64_t i);
// Gamma(shape) deviate of sample i's stream (blocks 1, 2, ...); shape > 0. Throws AnalysisError for a
// bad shape.
double gamma_draw(const formats::PhiloxWords& rng, std::uint64_t i, double shape);
// Student-t(df) sample i; df > 0.
double student_t_draw(const formats::PhiloxWords& rng, std::uint64_t i, double df);
// out[j] = sample first + j of the distribution with PhiloxWords(seed).
void draw_samples(const Distribution& dist, std::uint64_t seed, std::uint64_t first, std::span<double> out);

// ---- statistics ------------------------------------------------------------------------------------

// The statistics of the given sample X (N = x.size() >= 2), quantized with `quantizer` (its rounding is
// used; rne for the Graham formats). Sums are plain double sums in sample order:
//   pass 1: m = sum x_i / N;  pass 2: var = sum (x_i - m)^2 / N (biased; no eps), s = sqrt(var);
//   pass 3: y_i = (x_i - m) / s, q_i = Q(y_i): ybar = sum y_i / N, qbar = sum q_i / N, sum y_i^2,
//           sum (q_i - y_i)^2 and the flag counts;
//   pass 4: Syy = sum (y_i - ybar)^2, Sqq = sum (q_i - qbar)^2, Syq = sum (y_i - ybar)(q_i - qbar).
// correlation = Syq / sqrt(Syy Sqq), sd = sqrt(Sqq / N), mean = qbar.
// Throws AnalysisError for N < 2, a non-finite x, or a zero or non-finite variance.
QuantizerStats stats_of_sample(const formats::Quantizer& quantizer, std::span<const double> x);

// stats_of_sample of n samples of `dist` drawn with PhiloxWords(seed) (samples 0 .. n-1), rounding rne.
// The samples are regenerated for each pass instead of being stored, so memory stays small for any n;
// the result is bit-identical to stats_of_sample on the same samples.
// Throws AnalysisError for n < 2 or n > kMaxSamples, df <= 0 (or not finite) for the t, and the cases
// of stats_of_sample (e.g. a t with a tiny df whose samples overflow).
QuantizerStats sample_stats(const formats::Format& format, const Distribution& dist, std::int64_t n,
                            std::uint64_t seed);

// `repeats` independent sample sets: repeat r uses seed + r (mod 2^64). Throws AnalysisError for
// repeats < 1 and as sample_stats.
std::vector<QuantizerStats> repeated_sample_stats(const formats::Format& format, const Distribution& dist,
                                                  std::int64_t n, std::uint64_t seed, std::int64_t repeats);

// Mean and sample sd (divisor R - 1; NaN for R = 1) over repeats, field by field; `samples` of both is
// that of the repeats. Throws AnalysisError for an empty list.
struct StatsSummary {
  QuantizerStats mean;
  QuantizerStats sd;
  std::int64_t repeats = 0;
};
StatsSummary summarize(std::span<const QuantizerStats> runs);

// ---- exact values for X ~ N(0,1) -------------------------------------------------------------------

// One cell of a monotone quantizer: every double x with lo <= x < hi quantizes to `value` (lo = -inf
// for the first cell, hi = +inf for the last). lo and hi are doubles, so a real boundary is known to
// one ulp: the true threshold lies in (nextafter(hi, -inf), hi].
struct Cell {
  double lo;
  double hi;
  double value;  // the quantized value of the cell's first double (may be -0, +-inf or NaN)
};

// The cells of a rne quantizer over all finite doubles, in increasing order, found by bisection over
// the doubles in their total order (bit-pattern ordinal). NaN results count as -inf for negative and
// +inf for positive inputs when ordering. Throws AnalysisError when the format is wider than
// kMaxExactWidth bits, wraps (fixed with overflow=wrap), or turns out not to be monotone.
std::vector<Cell> quantizer_cells(const formats::Format& format);

// Phi(hi) - Phi(lo) for the standard normal, accurate in both tails (std::erfc); lo <= hi, infinities allowed.
double normal_probability(double lo, double hi);
// The standard normal density; 0 at +-inf.
double normal_pdf(double x);

// The population statistics for X ~ N(0,1) (then N(X) = X), from the cells (v_k on [a_k, b_k)):
//   P_k = Phi(b_k) - Phi(a_k), E[Q] = sum v_k P_k, E[XQ] = sum v_k (phi(a_k) - phi(b_k)),
//   E[Q^2] = sum v_k^2 P_k, Var Q = E[Q^2] - E[Q]^2, correlation = E[XQ] / sqrt(Var Q), sd = sqrt(Var Q),
//   snr_db = 10 log10(1 / E[(Q-X)^2]) with E[(Q-X)^2] = E[Q^2] - 2 E[XQ] + 1.
// Cells with an infinite or NaN value (a float format that overflows to inf or NaN) have a positive
// probability in the reals even when it underflows in double: with a NaN cell every statistic but the
// clamp fractions is NaN; with infinite cells E[Q^2] = inf, so sd = inf, correlation = NaN,
// snr_db = -inf and mean = +-inf (NaN when both signs occur).
// clamped_high / clamped_low: for each sign, the overflow / underflow flag as a function of |x| is
// checked at the smallest and the largest positive double; when they differ the threshold is found by
// bisection and its mass taken from erf / erfc (when a result is exact, the flag of the next double
// up in magnitude is used, so isolated exactly representable points, e.g. subnormals, which raise no
// underflow flag, do not break the monotone search). The flags are then checked at every cell's ends
// against that threshold; a non-monotone flag throws AnalysisError.
// `samples` is 0. Throws as quantizer_cells.
QuantizerStats exact_normal_stats(const formats::Format& format);

}  // namespace bitsim::analysis
