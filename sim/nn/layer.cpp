#include "sim/nn/layer.hpp"

namespace bitsim::sim::nn {

void Layer::round(const StepContext& ctx, Role r, FTensor& t, int slot) { round_span(ctx, r, t.span(), slot, {}, t.shape.n, t.shape); }

void Layer::round_span(const StepContext& ctx, Role r, std::span<float> x, int slot, std::string_view tensor,
                       std::int64_t samples, const Nchw& shape, int state_slot) {
  const RoleRounding& rr = roles[r];
  if (rr.is_identity()) {  // changes nothing: an observer sees the values as both before and after
    if (ctx.observer) ctx.observer->on_rounding(RoundingEvent{this, r, slot, tensor, x, x, PowerOfTwoScale{}});
    return;
  }
  // The observer's copy of the values before rounding: one buffer per thread, reused, so watched steps
  // (statistics, hazard checks) do not allocate per site once warm. Observers never keep the span.
  thread_local std::vector<float> before;
  if (ctx.observer) before.assign(x.begin(), x.end());
  PowerOfTwoScale scale;
  {
    std::string what = name + " " + role_name(r);
    if (!tensor.empty()) what += " (" + std::string(tensor) + ")";
    PolicyState state;
    if (rr.state_floats() > 0) {
      state.samples = samples;
      state.training = ctx.training;
      state.update = ctx.update_running;
      state.values = role_state_[static_cast<std::size_t>(r)].ptr();
      state.slot = state_slot < 0 ? slot : state_slot;
    }
    scale = rr.apply(x, ctx.seed_for(r, slot), what.c_str(), ctx.threads, rr.state_floats() > 0 ? &state : nullptr, shape);
  }
  if (ctx.observer) ctx.observer->on_rounding(RoundingEvent{this, r, slot, tensor, before, x, scale});
}

void Layer::finish_grad(const StepContext& ctx, Param& p, int slot) {
  if (grad_decay != 0 && (p.name == "weight" || grad_decay_all)) {
    const float wd = grad_decay;
    float* g = p.grad.ptr();
    const float* w = p.value.ptr();
    for (std::size_t i = 0; i < p.grad.data.size(); ++i) g[i] = g[i] + wd * w[i];
  }
  round_span(ctx, Role::G, p.grad.span(), slot, p.name, 1, p.grad.shape);
}

void Layer::begin_backward(const StepContext& ctx, FTensor& dy) {
  if (bifurcate && has_weight_product()) {
    dy_w_ = dy;
    round(ctx, Role::DY_W, dy_w_);
  }
  round(ctx, Role::DY, dy);
}

void Layer::prepare_role_state() {
  for (int r = 0; r < kRoleCount; ++r) {
    FTensor& t = role_state_[static_cast<std::size_t>(r)];
    const std::int64_t floats = roles[static_cast<Role>(r)].state_floats();
    if (floats > 0) {
      if (static_cast<std::int64_t>(t.data.size()) != floats) t = FTensor(Nchw{1, floats, 1, 1});
    } else {
      t = FTensor();
    }
  }
}

std::vector<std::pair<std::string, FTensor*>> Layer::role_buffers() {
  std::vector<std::pair<std::string, FTensor*>> out;
  for (int r = 0; r < kRoleCount; ++r)
    if (roles[static_cast<Role>(r)].state_floats() > 0 && !role_state_[static_cast<std::size_t>(r)].data.empty())
      out.emplace_back(std::string(role_name(static_cast<Role>(r))) + "." + roles[static_cast<Role>(r)].policy().state_name(),
                       &role_state_[static_cast<std::size_t>(r)]);
  return out;
}

void Layer::round_weights(const StepContext& ctx) {
  const RoleRounding& w = roles[Role::W];
  int slot = 0;
  for (Param* p : params()) {
    p->w_identity = w.is_identity();
    if (!p->w_identity) {
      p->rounded = p->value;
      round_span(ctx, Role::W, p->rounded.span(), slot, p->name, 1, p->rounded.shape);
    } else if (ctx.observer) {
      round_span(ctx, Role::W, p->value.span(), slot, p->name, 1, p->value.shape);  // reports only: the identity changes nothing
    }
    ++slot;
  }
}

bool Layer::uses_role(Role r) {
  switch (r) {
    case Role::W:
    case Role::G:
    case Role::U:
    case Role::M:
    case Role::V:
    case Role::W_MASTER: return !params().empty();
    case Role::BN_MEAN:
    case Role::BN_SCALE:
    case Role::BN_NORM:
    case Role::ATT_S:
    case Role::ATT_P: return false;
    case Role::DY_W: return bifurcate && has_weight_product();
    default: return true;
  }
}

}  // namespace bitsim::sim::nn
