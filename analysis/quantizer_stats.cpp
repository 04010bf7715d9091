// Quantizer distortion statistics of normalized data (quantizer_stats.hpp).
#include "analysis/quantizer_stats.hpp"

#include "formats/golden.hpp"
#include "formats/rounding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>

namespace bitsim::analysis {

using formats::Format;
using formats::PhiloxWords;
using formats::Quantizer;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- word streams ------------------------------------------------------------------------------

using Block = std::array<std::uint32_t, 4>;

// Block b of sample i's stream: words 2^32 i + 4b .. 2^32 i + 4b + 3.
Block stream_block(const PhiloxWords& rng, std::uint64_t i, std::uint64_t b) {
  if (i >= (std::uint64_t{1} << 32)) throw AnalysisError(fmt::format("sample index {} is beyond 2^32 - 1", i));
  if (b >= (std::uint64_t{1} << 30)) throw AnalysisError(fmt::format("sample {}: its word stream is exhausted", i));
  Block w;
  rng.fill((i << 32) + 4 * b, w);
  return w;
}

std::uint64_t top53(std::uint32_t a, std::uint32_t b) { return ((std::uint64_t{a} << 32) | b) >> 11; }

// Box-Muller, cosine branch.
double normal_of_block(const Block& w) {
  const double u1 = uniform_open_closed(w[0], w[1]);
  const double u2 = uniform_closed_open(w[2], w[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

void check_df(double df) {
  if (!(df > 0) || !std::isfinite(df))
    throw AnalysisError(fmt::format("df {}: the Student t needs a finite number of degrees of freedom > 0", df));
}

// ---- quantizing one value ------------------------------------------------------------------------

struct Rounded {
  double value;
  std::uint8_t flags;
};

// Quantizer::quantize, or the golden path for formats whose codes do not fit 64 bits.
class Rounder {
 public:
  explicit Rounder(const Quantizer& q) : q_(q), wide_(q.format().width() > 64) {
    if (q.rounding().mode == formats::Rounding::sr)
      throw AnalysisError("stochastic rounding (sr) is not supported by the quantizer statistics");
  }
  Rounded operator()(double x) const {
    if (wide_) {
      const formats::GoldenResult g = formats::golden_quantize(q_.format(), x, q_.rounding());
      return {g.value, g.flags};
    }
    const formats::Quantized r = q_.quantize(x);
    return {r.value, r.flags};
  }

 private:
  const Quantizer& q_;
  bool wide_;
};

// ---- the four passes of stats_of_sample ------------------------------------------------------------

// fill(first, span) writes samples first .. first + span.size() - 1.
template <class Fill>
QuantizerStats stats_core(const Quantizer& quantizer, std::int64_t n, Fill&& fill) {
  if (n < 2) throw AnalysisError(fmt::format("samples {}: at least 2 samples are needed to normalize", n));
  const Rounder round(quantizer);
  constexpr std::int64_t kChunk = 4096;
  std::vector<double> buf(static_cast<std::size_t>(std::min(n, kChunk)));
  auto each_sample = [&](auto&& body) {
    for (std::int64_t first = 0; first < n; first += kChunk) {
      const std::size_t len = static_cast<std::size_t>(std::min(kChunk, n - first));
      std::span<double> chunk(buf.data(), len);
      fill(static_cast<std::uint64_t>(first), chunk);
      for (std::size_t j = 0; j < len; ++j) body(first + static_cast<std::int64_t>(j), chunk[j]);
    }
  };
  const double dn = static_cast<double>(n);

  // Pass 1: the mean.
  double sum_x = 0;
  each_sample([&](std::int64_t i, double x) {
    if (!std::isfinite(x))
      throw AnalysisError(fmt::format("sample {} is {}: the distribution's tail exceeds the double range "
                                      "(a larger df avoids this)", i, x));
    sum_x += x;
  });
  const double m = sum_x / dn;
  // Pass 2: the biased variance.
  double sum_dd = 0;
  each_sample([&](std::int64_t, double x) { sum_dd += (x - m) * (x - m); });
  const double var = sum_dd / dn;
  if (!std::isfinite(m) || !std::isfinite(var))
    throw AnalysisError("the sample variance is not finite: the distribution's tail exceeds the double range "
                        "(a larger df avoids this)");
  if (!(var > 0)) throw AnalysisError("the sample variance is zero: the sample cannot be normalized");
  const double s = std::sqrt(var);

  // Pass 3: normalize, quantize; means, SNR sums and flags.
  double sum_y = 0, sum_q = 0, sum_yy = 0, sum_ee = 0;
  std::int64_t n_low = 0, n_high = 0;
  each_sample([&](std::int64_t, double x) {
    const double y = (x - m) / s;
    const Rounded r = round(y);
    sum_y += y;
    sum_q += r.value;
    sum_yy += y * y;
    sum_ee += (r.value - y) * (r.value - y);
    if (r.flags & formats::flag::underflow) ++n_low;
    if (r.flags & formats::flag::overflow) ++n_high;
  });
  const double ybar = sum_y / dn, qbar = sum_q / dn;
  // Pass 4: centred second moments.
  double syy = 0, sqq = 0, syq = 0;
  each_sample([&](std::int64_t, double x) {
    const double y = (x - m) / s;
    const double q = round(y).value;
    const double dy = y - ybar, dq = q - qbar;
    syy += dy * dy;
    sqq += dq * dq;
    syq += dy * dq;
  });

  QuantizerStats st;
  st.correlation = syq / std::sqrt(syy * sqq);
  st.sd = std::sqrt(sqq / dn);
  st.mean = qbar;
  st.snr_db = sum_ee == 0 ? kInf : 10.0 * std::log10(sum_yy / sum_ee);
  st.clamped_low = static_cast<double>(n_low) / dn;
  st.clamped_high = static_cast<double>(n_high) / dn;
  st.samples = n;
  return st;
}

void check_sample_args(const Distribution& dist, std::int64_t n) {
  if (n < 2) throw AnalysisError(fmt::format("samples {}: at least 2 samples are needed to normalize", n));
  if (n > kMaxSamples) throw AnalysisError(fmt::format("samples {}: at most {} samples are allowed", n, kMaxSamples));
  if (dist.kind == DistributionKind::student_t) check_df(dist.df);
}

QuantizerStats sample_stats_with(const Quantizer& quantizer, const Distribution& dist, std::int64_t n,
                                 std::uint64_t seed) {
  return stats_core(quantizer, n, [&](std::uint64_t first, std::span<double> out) { draw_samples(dist, seed, first, out); });
}

// ---- ordinals of doubles -----------------------------------------------------------------------

// The total order of the doubles as unsigned integers: -max < ... < -0 < +0 < ... < +max (NaNs unused).
std::uint64_t ordinal(double x) {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  return (bits >> 63) ? ~bits : (bits | (std::uint64_t{1} << 63));
}
double from_ordinal(std::uint64_t k) {
  return std::bit_cast<double>((k >> 63) ? (k & ~(std::uint64_t{1} << 63)) : ~k);
}

constexpr std::uint64_t kMaxBits = 0x7FEFFFFFFFFFFFFFull;  // bits of DBL_MAX

// The quantized value as an ordered key: NaN counts as -inf for negative and +inf for positive inputs.
double order_key(double x, double value) {
  if (std::isnan(value)) return std::signbit(x) ? -kInf : kInf;
  return value;
}

void check_exact_format(const Format& format) {
  if (format.width() > kMaxExactWidth)
    throw AnalysisError(fmt::format("format {} is {} bits wide; exact values are computed for formats of at most {} bits",
                                    format.name(), format.width(), kMaxExactWidth));
  if (format.is<formats::FixedFormat>() && format.as<formats::FixedFormat>().overflow == formats::FixedOverflow::wrap)
    throw AnalysisError(fmt::format("format {} wraps on overflow, so its quantizer is not monotone; exact values need a "
                                    "monotone quantizer", format.name()));
}

std::vector<Cell> cells_of(const Format& format, const Rounder& round) {
  const std::uint64_t t_begin = ordinal(-std::numeric_limits<double>::max());
  const std::uint64_t t_end = ordinal(std::numeric_limits<double>::max());
  auto key_at = [&](std::uint64_t t) {
    const double x = from_ordinal(t);
    return order_key(x, round(x).value);
  };
  auto not_monotone = [&](double x) {
    return AnalysisError(fmt::format("the quantizer of format {} is not monotone (near x = {}); exact values need a "
                                     "monotone quantizer", format.name(), x));
  };
  const std::size_t max_cells = (std::size_t{1} << format.width()) + 2;
  std::vector<Cell> cells;
  std::uint64_t t = t_begin;
  double lo = -kInf;
  const double k_end = key_at(t_end);
  for (;;) {
    const double x0 = from_ordinal(t);
    const double v0 = round(x0).value;
    const double k0 = order_key(x0, v0);
    if (k_end == k0) {
      cells.push_back({lo, kInf, v0});
      break;
    }
    if (k_end < k0) throw not_monotone(from_ordinal(t_end));
    // key(a) == k0 < key(b)
    std::uint64_t a = t, b = t_end;
    while (b - a > 1) {
      const std::uint64_t mid = a + (b - a) / 2;
      const double km = key_at(mid);
      if (km < k0) throw not_monotone(from_ordinal(mid));
      if (km > k0) b = mid;
      else a = mid;
    }
    const double hi = from_ordinal(b);
    cells.push_back({lo, hi, v0});
    if (cells.size() > max_cells) throw not_monotone(hi);
    lo = hi;
    t = b;
  }
  return cells;
}

// Probability that X ~ N(0,1) is in 0 < |X| < tau on one side, and tau <= |X| on one side.
double half_mass_below(double tau) { return 0.5 * std::erf(tau * std::numbers::sqrt2 / 2); }
double half_mass_above(double tau) { return 0.5 * std::erfc(tau * std::numbers::sqrt2 / 2); }

// The mass of {x of sign `sign` : flag set} for X ~ N(0,1); see exact_normal_stats in the header.
double flag_mass(const Format& format, const Rounder& round, const std::vector<Cell>& cells, int sign,
                 std::uint8_t flag) {
  auto x_of = [&](std::uint64_t bits) {
    const double m = std::bit_cast<double>(bits);
    return sign < 0 ? -m : m;
  };
  // The flag at magnitude `bits` (1 .. kMaxBits); an exact result defers to the next magnitude up.
  auto flagged = [&](std::uint64_t bits) {
    Rounded r = round(x_of(bits));
    if (!(r.flags & formats::flag::inexact)) r = round(x_of(bits == kMaxBits ? bits - 1 : bits + 1));
    return (r.flags & flag) != 0;
  };
  const bool f_lo = flagged(1), f_hi = flagged(kMaxBits);
  double tau = kInf;  // first magnitude with the flag of the largest magnitudes
  if (f_lo != f_hi) {
    std::uint64_t a = 1, b = kMaxBits;  // flagged(a) == f_lo, flagged(b) == f_hi
    while (b - a > 1) {
      const std::uint64_t mid = a + (b - a) / 2;
      if (flagged(mid) == f_hi) b = mid;
      else a = mid;
    }
    tau = std::bit_cast<double>(b);
  }
  auto expected = [&](double magnitude) { return magnitude < tau ? f_lo : f_hi; };
  // Check the monotone model at both ends of every cell on this side.
  for (const Cell& c : cells) {
    double ends[2] = {c.lo, c.hi == kInf ? kInf : std::nextafter(c.hi, -kInf)};
    for (double e : ends) {
      const double m = std::abs(e);
      if (!(std::signbit(e) == (sign < 0)) || !(m > 0) || std::isinf(m)) continue;
      if (flagged(std::bit_cast<std::uint64_t>(m)) != expected(m))
        throw AnalysisError(fmt::format("the {} flag of format {} is not monotone in |x| (near x = {}); exact clamp "
                                        "fractions need a monotone flag",
                                        flag == formats::flag::overflow ? "overflow" : "underflow", format.name(), e));
    }
  }
  if (f_lo == f_hi) return f_lo ? 0.5 : 0.0;
  return f_lo ? half_mass_below(tau) : half_mass_above(tau);
}

}  // namespace

// ---- public: names -------------------------------------------------------------------------------

std::string distribution_name(const Distribution& d) {
  if (d.kind == DistributionKind::normal) return "normal";
  return fmt::format("student-t(df={})", d.df);
}

// ---- public: sampling ------------------------------------------------------------------------------

double uniform_closed_open(std::uint32_t a, std::uint32_t b) { return static_cast<double>(top53(a, b)) * 0x1p-53; }
double uniform_open_closed(std::uint32_t a, std::uint32_t b) { return static_cast<double>(top53(a, b) + 1) * 0x1p-53; }

double normal_draw(const PhiloxWords& rng, std::uint64_t i) { return normal_of_block(stream_block(rng, i, 0)); }

double gamma_draw(const PhiloxWords& rng, std::uint64_t i, double shape) {
  if (!(shape > 0) || !std::isfinite(shape))
    throw AnalysisError(fmt::format("gamma shape {}: must be finite and > 0", shape));
  const bool boost = shape < 1;
  const double s = boost ? shape + 1 : shape;
  const double d = s - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  double g = 0;
  for (std::uint64_t m = 0;; ++m) {
    const double z = normal_of_block(stream_block(rng, i, 2 + 2 * m));
    double v = 1.0 + c * z;
    if (v <= 0) continue;
    v = v * v * v;
    const Block ub = stream_block(rng, i, 3 + 2 * m);
    const double u = uniform_open_closed(ub[0], ub[1]);
    if (std::log(u) < 0.5 * z * z + d - d * v + d * std::log(v)) {
      g = d * v;
      break;
    }
  }
  if (boost) {
    const Block bb = stream_block(rng, i, 1);
    g *= std::pow(uniform_open_closed(bb[0], bb[1]), 1.0 / shape);
  }
  return g;
}

double student_t_draw(const PhiloxWords& rng, std::uint64_t i, double df) {
  check_df(df);
  const double z = normal_draw(rng, i);
  const double v = 2.0 * gamma_draw(rng, i, df / 2);
  return z / std::sqrt(v / df);
}

void draw_samples(const Distribution& dist, std::uint64_t seed, std::uint64_t first, std::span<double> out) {
  const PhiloxWords rng(seed);
  if (dist.kind == DistributionKind::normal) {
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = normal_draw(rng, first + j);
  } else {
    check_df(dist.df);
    for (std::size_t j = 0; j < out.size(); ++j) out[j] = student_t_draw(rng, first + j, dist.df);
  }
}

// ---- public: statistics --------------------------------------------------------------------------

QuantizerStats stats_of_sample(const Quantizer& quantizer, std::span<const double> x) {
  return stats_core(quantizer, static_cast<std::int64_t>(x.size()), [&](std::uint64_t first, std::span<double> out) {
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(first), out.size(), out.begin());
  });
}

QuantizerStats sample_stats(const Format& format, const Distribution& dist, std::int64_t n, std::uint64_t seed) {
  check_sample_args(dist, n);
  const Quantizer quantizer(format);
  return sample_stats_with(quantizer, dist, n, seed);
}

std::vector<QuantizerStats> repeated_sample_stats(const Format& format, const Distribution& dist, std::int64_t n,
                                                  std::uint64_t seed, std::int64_t repeats) {
  if (repeats < 1) throw AnalysisError(fmt::format("repeats {}: at least 1 repeat is needed", repeats));
  check_sample_args(dist, n);
  const Quantizer quantizer(format);
  std::vector<QuantizerStats> runs;
  runs.reserve(static_cast<std::size_t>(repeats));
  for (std::int64_t r = 0; r < repeats; ++r)
    runs.push_back(sample_stats_with(quantizer, dist, n, seed + static_cast<std::uint64_t>(r)));
  return runs;
}

StatsSummary summarize(std::span<const QuantizerStats> runs) {
  if (runs.empty()) throw AnalysisError("summarize: no repeats");
  const double r = static_cast<double>(runs.size());
  StatsSummary out;
  out.repeats = static_cast<std::int64_t>(runs.size());
  out.mean.samples = out.sd.samples = runs.front().samples;
  auto field = [&](double QuantizerStats::*f) {
    double sum = 0;
    for (const QuantizerStats& s : runs) sum += s.*f;
    const double mean = sum / r;
    double ss = 0;
    for (const QuantizerStats& s : runs) ss += (s.*f - mean) * (s.*f - mean);
    out.mean.*f = mean;
    out.sd.*f = runs.size() > 1 ? std::sqrt(ss / (r - 1)) : kNaN;
  };
  for (auto f : {&QuantizerStats::correlation, &QuantizerStats::sd, &QuantizerStats::mean, &QuantizerStats::snr_db,
                 &QuantizerStats::clamped_low, &QuantizerStats::clamped_high})
    field(f);
  return out;
}

// ---- public: exact values ------------------------------------------------------------------------

double normal_probability(double lo, double hi) {
  auto upper = [](double x) { return 0.5 * std::erfc(x * std::numbers::sqrt2 / 2); };  // 1 - Phi(x)
  if (lo >= 0) return upper(lo) - upper(hi);
  if (hi <= 0) return upper(-hi) - upper(-lo);
  return 1.0 - upper(-lo) - upper(hi);
}

double normal_pdf(double x) {
  return std::exp(-0.5 * x * x) * (std::numbers::inv_sqrtpi / std::numbers::sqrt2);
}

std::vector<Cell> quantizer_cells(const Format& format) {
  check_exact_format(format);
  const Quantizer quantizer(format);
  const Rounder round(quantizer);
  return cells_of(format, round);
}

QuantizerStats exact_normal_stats(const Format& format) {
  check_exact_format(format);
  const Quantizer quantizer(format);
  const Rounder round(quantizer);
  const std::vector<Cell> cells = cells_of(format, round);

  double eq = 0, exq = 0, eq2 = 0;
  bool any_nan = false, pos_inf = false, neg_inf = false;
  for (const Cell& c : cells) {
    const double v = c.value;
    if (std::isnan(v)) {
      any_nan = true;
      continue;
    }
    if (std::isinf(v)) {
      (v > 0 ? pos_inf : neg_inf) = true;
      continue;
    }
    const double p = normal_probability(c.lo, c.hi);
    const double dphi = normal_pdf(c.lo) - normal_pdf(c.hi);
    eq += v * p;
    exq += v * dphi;
    eq2 += v * v * p;
  }

  QuantizerStats st;
  st.samples = 0;
  if (any_nan) {
    st.correlation = st.sd = st.mean = st.snr_db = kNaN;
  } else if (pos_inf || neg_inf) {
    st.mean = (pos_inf && neg_inf) ? kNaN : pos_inf ? kInf : -kInf;
    st.sd = kInf;
    st.correlation = kNaN;
    st.snr_db = -kInf;
  } else {
    const double var = eq2 - eq * eq;
    st.correlation = exq / std::sqrt(var);
    st.sd = std::sqrt(var);
    st.mean = eq;
    const double mse = eq2 - 2 * exq + 1;
    st.snr_db = mse > 0 ? 10.0 * std::log10(1.0 / mse) : kInf;
  }
  st.clamped_high = flag_mass(format, round, cells, +1, formats::flag::overflow) +
                    flag_mass(format, round, cells, -1, formats::flag::overflow);
  st.clamped_low = flag_mass(format, round, cells, +1, formats::flag::underflow) +
                   flag_mass(format, round, cells, -1, formats::flag::underflow);
  return st;
}

}  // namespace bitsim::analysis
