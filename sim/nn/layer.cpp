#include "sim/nn/layer.hpp"

namespace bitsim::sim::nn {

void Layer::round(const StepContext& ctx, Role r, FTensor& t, int slot) {
  const RoleRounding& rr = roles[r];
  if (rr.is_identity()) return;
  const std::string what = name + " " + role_name(r);
  RangeContext rc;
  if (rr.has_running_range()) {
    rc.samples = t.shape.n;
    rc.training = ctx.training;
    rc.running = running_range_[static_cast<std::size_t>(r)].ptr();
  }
  rr.apply(t.span(), ctx.seed_for(r, slot), what.c_str(), ctx.threads, rr.has_running_range() ? &rc : nullptr);
}

void Layer::begin_backward(const StepContext& ctx, FTensor& dy) {
  if (bifurcate) {
    dy_w_ = dy;
    round(ctx, Role::DY_W, dy_w_);
  }
  round(ctx, Role::DY, dy);
}

void Layer::prepare_role_state() {
  for (int r = 0; r < kRoleCount; ++r) {
    FTensor& t = running_range_[static_cast<std::size_t>(r)];
    if (roles[static_cast<Role>(r)].has_running_range()) {
      if (t.data.size() != 2) t = FTensor(Nchw{1, 2, 1, 1});
    } else {
      t = FTensor();
    }
  }
}

std::vector<std::pair<std::string, FTensor*>> Layer::role_buffers() {
  std::vector<std::pair<std::string, FTensor*>> out;
  for (int r = 0; r < kRoleCount; ++r)
    if (running_range_[static_cast<std::size_t>(r)].data.size() == 2)
      out.emplace_back(std::string(role_name(static_cast<Role>(r))) + ".running_range", &running_range_[static_cast<std::size_t>(r)]);
  return out;
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
