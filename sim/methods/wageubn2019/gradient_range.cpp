#include "sim/methods/wageubn2019/gradient_range.hpp"

#include <algorithm>

namespace bitsim::sim::methods {

std::int64_t gscale_at(const nn::ScheduleConfig& s, std::int64_t step, std::int64_t steps_per_epoch) {
  if (s.gscale.empty()) return 0;
  std::size_t i = 0;
  while (i < s.gscale_milestones.size() &&
         static_cast<double>(step) >= s.gscale_milestones[i] * static_cast<double>(steps_per_epoch))
    ++i;
  return s.gscale[std::min(i, s.gscale.size() - 1)];
}

void set_gradient_range(nn::Model& model, std::int64_t gscale) {
  for (auto& n : model.nodes()) {
    nn::RoleRounding& g = n.layer->roles[nn::Role::G];
    if (!g.is_wage() || g.wage_spec().kind != nn::WageKind::constant || g.wage_spec().dynamic_range() == gscale) continue;
    nn::WageSpec spec = g.wage_spec();
    spec.gscale = gscale;
    g = nn::RoleRounding::wage(spec, g.is_stochastic());
  }
}

}  // namespace bitsim::sim::methods
