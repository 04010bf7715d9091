#include "analysis/stats_report.hpp"

#include "formats/format_text.hpp"
#include "sim/train/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace bitsim::analysis {

namespace {

double pct(std::uint64_t part, std::uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : std::numeric_limits<double>::quiet_NaN();
}

std::string num(double v, const char* spec = "{:.3g}") {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format(fmt::runtime(spec), v);
}

std::string site_label(const SiteMeta& s) { return s.group.substr(s.group.rfind('/') + 1); }

}  // namespace

bool SiteFilter::matches(const std::string& role, const std::string& layer) const {
  if (!roles.empty() && std::find(roles.begin(), roles.end(), role) == roles.end()) return false;
  if (layers.empty()) return true;
  return std::any_of(layers.begin(), layers.end(), [&](const std::string& p) { return sim::train::name_matches(p, layer); });
}

std::uint64_t choose_step(const StatsReader& r, std::optional<std::uint64_t> step) {
  const auto& steps = r.steps();
  if (steps.empty()) throw StatsFileError(r.path() + ": no step was logged (completed) in this file");
  if (!step) return steps.back().step;
  for (const StepRow& s : steps)
    if (s.step == *step) return *step;
  std::string have;
  for (std::size_t i = 0; i < steps.size() && i < 8; ++i) have += (have.empty() ? "" : ", ") + std::to_string(steps[i].step);
  if (steps.size() > 8) have += fmt::format(", ... {}", steps.back().step);
  throw StatsFileError(fmt::format("{}: step {} was not logged (logged: {})", r.path(), *step, have));
}

std::vector<SiteSummary> summarize(const StatsReader& r, std::uint64_t step, const SiteFilter& filter) {
  std::vector<SiteSummary> out;
  for (std::size_t i = 0; i < r.sites().size(); ++i) {
    const SiteMeta& m = r.sites()[i];
    if (!filter.matches(m)) continue;
    const std::vector<StatsRow> rows = r.rows(i);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (rows[k].step != step) continue;
      SiteSummary s;
      s.site = &m;
      s.row = rows[k];
      s.hist = r.hist(i, k, true);
      double sum = 0, n = 0;
      for (std::size_t b = 0; b < s.hist.size(); ++b) {
        sum += static_cast<double>(s.hist[b]) * static_cast<double>(static_cast<std::int64_t>(b) + kHistMinExponent);
        n += static_cast<double>(s.hist[b]);
      }
      s.mean_log2 = n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
      out.push_back(std::move(s));
      break;
    }
  }
  return out;
}

std::string summary_table(const std::vector<SiteSummary>& rows) {
  std::string t = fmt::format("{:<16} {:<16} {:<46} {:>9} {:>10} {:>10} {:>7} {:>7} {:>7} {:>8} {:>7}\n", "layer", "site",
                              "quantizer", "count", "std", "max|x|", "zero%", "under%", "sat%", "SNR dB", "util%");
  for (const SiteSummary& s : rows) {
    const StatsRow& r = s.row;
    t += fmt::format("{:<16} {:<16} {:<46} {:>9} {:>10} {:>10} {:>7} {:>7} {:>7} {:>8} {:>7}\n", s.site->layer,
                     site_label(*s.site), s.site->quantizer, r.count, num(r.after_std), num(r.after_absmax),
                     num(pct(r.after_zeros, r.count), "{:.2f}"), num(pct(r.underflow, r.count), "{:.2f}"),
                     num(pct(r.saturated + r.overflow, r.count), "{:.2f}"), num(r.snr_db, "{:.1f}"),
                     num(100 * r.utilization, "{:.1f}"));
  }
  return t;
}

std::string summary_csv(const std::vector<SiteSummary>& rows) {
  std::string t =
      "layer,site,role,tensor,quantizer,format,step,count,before_finite,before_zeros,before_pos_inf,before_neg_inf,"
      "before_nan,before_mean,before_std,before_min,before_max,before_absmax,before_skewness,before_kurtosis,"
      "after_finite,after_zeros,after_pos_inf,after_neg_inf,after_nan,after_mean,after_std,after_min,after_max,"
      "after_absmax,after_skewness,after_kurtosis,underflow,saturated,overflow,mse,snr_db,distinct,utilization,"
      "scaled,scale_exponent,mean_log2\n";
  auto g = [](double v) { return fmt::format("{:.17g}", v); };
  for (const SiteSummary& s : rows) {
    const StatsRow& r = s.row;
    const SiteMeta& m = *s.site;
    t += fmt::format("{},{},{},{},{},{},{},{},", formats::csv_field(m.layer), formats::csv_field(site_label(m)), m.role, formats::csv_field(m.tensor),
                     formats::csv_field(m.quantizer), formats::csv_field(m.format), r.step, r.count);
    t += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},", r.before_finite, r.before_zeros, r.before_pos_inf,
                     r.before_neg_inf, r.before_nan, g(r.before_mean), g(r.before_std), g(r.before_min), g(r.before_max),
                     g(r.before_absmax), g(r.before_skewness), g(r.before_kurtosis));
    t += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},", r.after_finite, r.after_zeros, r.after_pos_inf, r.after_neg_inf,
                     r.after_nan, g(r.after_mean), g(r.after_std), g(r.after_min), g(r.after_max), g(r.after_absmax),
                     g(r.after_skewness), g(r.after_kurtosis));
    t += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", r.underflow, r.saturated, r.overflow, g(r.mse), g(r.snr_db),
                     r.distinct, g(r.utilization), r.scaled, r.scale_exponent, g(s.mean_log2));
  }
  return t;
}

double histogram_distance(const std::vector<std::uint64_t>& ha, std::uint64_t zeros_a, const std::vector<std::uint64_t>& hb,
                          std::uint64_t zeros_b) {
  double na = static_cast<double>(zeros_a), nb = static_cast<double>(zeros_b);
  for (auto v : ha) na += static_cast<double>(v);
  for (auto v : hb) nb += static_cast<double>(v);
  if (na == 0 || nb == 0) return na == nb ? 0.0 : 1.0;
  double d = std::fabs(static_cast<double>(zeros_a) / na - static_cast<double>(zeros_b) / nb);
  for (std::size_t i = 0; i < std::max(ha.size(), hb.size()); ++i) {
    const double pa = i < ha.size() ? static_cast<double>(ha[i]) / na : 0.0;
    const double pb = i < hb.size() ? static_cast<double>(hb[i]) / nb : 0.0;
    d += std::fabs(pa - pb);
  }
  return d / 2;
}

std::string compare_table(const std::vector<SiteSummary>& a, const std::vector<SiteSummary>& b, std::uint64_t step_a,
                          std::uint64_t step_b) {
  std::map<std::string, const SiteSummary*> in_b;
  for (const SiteSummary& s : b) in_b[s.site->group] = &s;
  std::string t = fmt::format("A at step {}, B at step {}; statistics of the values after rounding\n", step_a, step_b);
  t += fmt::format("{:<16} {:<16} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7} {:>7} {:>6} {:>8} {:>8}\n", "layer", "site", "std A",
                   "std B", "B/A", "max|x| A", "max|x| B", "log2 A", "log2 B", "TV", "SNR A", "SNR B");
  std::size_t common = 0;
  for (const SiteSummary& sa : a) {
    const auto it = in_b.find(sa.site->group);
    if (it == in_b.end()) continue;
    ++common;
    const SiteSummary& sb = *it->second;
    t += fmt::format("{:<16} {:<16} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7} {:>7} {:>6} {:>8} {:>8}\n", sa.site->layer,
                     site_label(*sa.site), num(sa.row.after_std), num(sb.row.after_std),
                     num(sb.row.after_std / sa.row.after_std, "{:.3f}"), num(sa.row.after_absmax), num(sb.row.after_absmax),
                     num(sa.mean_log2, "{:.2f}"), num(sb.mean_log2, "{:.2f}"),
                     num(histogram_distance(sa.hist, sa.row.after_zeros, sb.hist, sb.row.after_zeros), "{:.3f}"),
                     num(sa.row.snr_db, "{:.1f}"), num(sb.row.snr_db, "{:.1f}"));
  }
  if (common == 0) t += "(no site is present in both files)\n";
  return t;
}

}  // namespace bitsim::analysis
