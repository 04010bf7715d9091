#include "sim/methods/wageubn2019/gradient_range.hpp"

#include "sim/methods/wageubn2019/wage_rounding.hpp"

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
    const WageSpec* w = wage_spec_of(g);
    if (!w || w->kind != WageKind::constant || w->dynamic_range() == gscale) continue;
    WageSpec spec = *w;
    spec.gscale = gscale;
    g = wage_rounding(spec, g.is_stochastic());
  }
}

}  // namespace bitsim::sim::methods
