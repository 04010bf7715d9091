#include "sim/nn/layer.hpp"

namespace bitsim::sim::nn {

void Layer::round(const StepContext& ctx, Role r, FTensor& t, int slot) const {
  const RoleRounding& rr = roles[r];
  if (rr.is_identity()) return;
  const std::string what = name + " " + role_name(r);
  rr.apply(t.span(), ctx.seed_for(r, slot), what.c_str(), ctx.threads);
}

void Layer::round_weights(const StepContext& ctx) {
  const RoleRounding& w = roles[Role::W];
  int slot = 0;
  for (Param* p : params()) {
    p->w_identity = w.is_identity();
    if (!p->w_identity) {
      p->rounded = p->value;
      const std::string what = name + " W (" + p->name + ")";
      w.apply(p->rounded.span(), ctx.seed_for(Role::W, slot), what.c_str(), ctx.threads);
    }
    ++slot;
  }
}

}  // namespace bitsim::sim::nn
