#include "analysis/stats_schema.hpp"

#include <algorithm>

namespace bitsim::analysis {

StatsRow make_row(std::uint64_t step, const TensorStats& s, bool scaled, int scale_exponent) {
  StatsRow r;
  r.step = step;
  r.count = s.count;
  auto side = [](const SideStats& x, std::uint64_t* counts, double* values) {
    counts[0] = x.finite;
    counts[1] = x.zeros;
    counts[2] = x.pos_inf;
    counts[3] = x.neg_inf;
    counts[4] = x.nan;
    values[0] = x.mean;
    values[1] = x.std;
    values[2] = x.min;
    values[3] = x.max;
    values[4] = x.absmax;
    values[5] = x.skewness;
    values[6] = x.kurtosis;
  };
  std::uint64_t bc[5], ac[5];
  double bv[7], av[7];
  side(s.before, bc, bv);
  side(s.after, ac, av);
  r.before_finite = bc[0], r.before_zeros = bc[1], r.before_pos_inf = bc[2], r.before_neg_inf = bc[3], r.before_nan = bc[4];
  r.before_mean = bv[0], r.before_std = bv[1], r.before_min = bv[2], r.before_max = bv[3], r.before_absmax = bv[4];
  r.before_skewness = bv[5], r.before_kurtosis = bv[6];
  r.after_finite = ac[0], r.after_zeros = ac[1], r.after_pos_inf = ac[2], r.after_neg_inf = ac[3], r.after_nan = ac[4];
  r.after_mean = av[0], r.after_std = av[1], r.after_min = av[2], r.after_max = av[3], r.after_absmax = av[4];
  r.after_skewness = av[5], r.after_kurtosis = av[6];
  r.underflow = s.underflow;
  r.saturated = s.saturated;
  r.overflow = s.overflow;
  r.mse = s.mse;
  r.snr_db = s.snr_db;
  r.distinct = s.distinct;
  r.utilization = s.utilization;
  r.scaled = scaled ? 1 : 0;
  r.scale_exponent = scale_exponent;
  return r;
}

std::string SiteInfo::site_name() const {
  std::string s = role;
  if (!tensor.empty()) s.append(".").append(tensor);
  else if (slot != 0) s.append(".").append(std::to_string(slot));
  if (occurrence > 0) s.append("#").append(std::to_string(occurrence + 1));
  return s;
}

std::string SiteInfo::path() const {
  std::string l = layer;
  std::replace(l.begin(), l.end(), '/', '_');
  if (l.empty() || l == "." || l == "..") l = "layer" + std::to_string(node);
  return "/layers/" + l + "/" + site_name();
}

}  // namespace bitsim::analysis
