#include "sim/nn/optimizer.hpp"

#include <cmath>
#include <numbers>

namespace bitsim::sim::nn {

namespace {

// Calls update(layer, param, slot, ctx) for every parameter of every layer, in model order, with ctx.node
// set to the layer's index (it keys the sr sites) and slot numbering the layer's parameters.
template <class Update> void for_each_param(Model& model, StepContext ctx, Update update) {
  for (std::size_t j = 0; j < model.nodes().size(); ++j) {
    Layer& layer = *model.nodes()[j].layer;
    ctx.node = static_cast<std::int64_t>(j);
    int slot = 0;
    for (Param* p : layer.params()) update(layer, *p, slot++, ctx);
  }
}

// The optimizer's weight decay for parameter p (0 where the layer added it to the gradient already, or
// for batch-norm and bias parameters without decay_bn_and_bias).
double decay_of(const SgdConfig& c, const Param& p) {
  const bool decays = !c.decay_in_gradient && (p.name == "weight" || c.decay_bn_and_bias);
  return decays ? c.weight_decay : 0.0;
}

// w = w - u (u in the gradient buffer), then the stored weights rounded to W_MASTER, or to W without
// master weights.
void apply_update(Layer& layer, Param& p, int slot, const StepContext& ctx, bool master_weights) {
  float* w = p.value.ptr();
  const float* u = p.grad.ptr();
  for (std::size_t i = 0; i < p.value.data.size(); ++i) w[i] = w[i] - u[i];
  if (!master_weights) layer.round_span(ctx, Role::W, p.value.span(), 8 + slot, p.name, 1, p.value.shape);
  else layer.round_span(ctx, Role::W_MASTER, p.value.span(), slot, p.name, 1, p.value.shape);
}

}  // namespace

void sgd_step(Model& model, const SgdConfig& c, double lr, StepContext ctx) {
  const float mu = static_cast<float>(c.momentum), lrf = static_cast<float>(lr);
  for_each_param(model, ctx, [&](Layer& layer, Param& p, int slot, const StepContext& pctx) {
    const float wd = static_cast<float>(decay_of(c, p));
    const std::size_t n = p.value.data.size();
    if (p.momentum.data.size() != n) p.momentum = FTensor(p.value.shape);
    const float* w = p.value.ptr();
    float* m = p.momentum.ptr();
    const float* g = p.grad.ptr();
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = g[i] + wd * w[i];
      m[i] = mu * m[i] + gi;
    }
    layer.round_span(pctx, Role::M, p.momentum.span(), slot, p.name, 1, p.momentum.shape);
    // u is formed in the gradient buffer (no longer needed after this step).
    float* u = p.grad.ptr();
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = g[i] + wd * w[i];
      const float d = c.nesterov ? gi + mu * m[i] : m[i];
      u[i] = lrf * d;
    }
    layer.round_span(pctx, Role::U, p.grad.span(), slot, p.name, 1, p.grad.shape);
    apply_update(layer, p, slot, pctx, c.master_weights);
  });
}

void adam_step(Model& model, const SgdConfig& common, const AdamConfig& c, bool decoupled, double lr, std::uint64_t step_number,
               StepContext ctx) {
  const double t = static_cast<double>(step_number);
  const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
  const float one_minus_b1 = static_cast<float>(1 - c.beta1), one_minus_b2 = static_cast<float>(1 - c.beta2);
  const float step_size = static_cast<float>(lr / (1 - std::pow(c.beta1, t)));
  const float correction2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(c.beta2, t)));
  const float eps = static_cast<float>(c.eps);
  for_each_param(model, ctx, [&](Layer& layer, Param& p, int slot, const StepContext& pctx) {
    const double wd = decay_of(common, p);
    const float l2 = decoupled ? 0.0f : static_cast<float>(wd);
    const float shrink = static_cast<float>(1 - lr * wd);
    const std::size_t n = p.value.data.size();
    if (p.momentum.data.size() != n) p.momentum = FTensor(p.value.shape);
    if (p.second_moment.data.size() != n) p.second_moment = FTensor(p.value.shape);
    float* w = p.value.ptr();
    float* m = p.momentum.ptr();
    float* v = p.second_moment.ptr();
    // g is formed in the gradient buffer, which then holds the update u (neither is needed after).
    float* g = p.grad.ptr();
    if (l2 != 0)
      for (std::size_t i = 0; i < n; ++i) g[i] = g[i] + l2 * w[i];
    if (decoupled && wd != 0)
      for (std::size_t i = 0; i < n; ++i) w[i] = w[i] * shrink;
    for (std::size_t i = 0; i < n; ++i) m[i] = m[i] * b1 + g[i] * one_minus_b1;
    layer.round_span(pctx, Role::M, p.momentum.span(), slot, p.name, 1, p.momentum.shape);
    for (std::size_t i = 0; i < n; ++i) v[i] = v[i] * b2 + (one_minus_b2 * g[i]) * g[i];
    layer.round_span(pctx, Role::V, p.second_moment.span(), slot, p.name, 1, p.second_moment.shape);
    for (std::size_t i = 0; i < n; ++i) g[i] = (step_size * m[i]) / (std::sqrt(v[i]) / correction2_sqrt + eps);
    layer.round_span(pctx, Role::U, p.grad.span(), slot, p.name, 1, p.grad.shape);
    apply_update(layer, p, slot, pctx, common.master_weights);
  });
}

double learning_rate(const ScheduleConfig& s, std::int64_t step, std::int64_t steps_per_epoch, std::int64_t total_steps) {
  const double warm = s.warmup_epochs * static_cast<double>(steps_per_epoch);
  const double t = static_cast<double>(step);
  if (warm > 0 && t < warm) return s.lr * (t + 1) / warm;
  if (s.type == "constant") return s.lr;
  if (s.type == "step") {
    double lr = s.lr;
    for (double m : s.milestones)
      if (t >= m * static_cast<double>(steps_per_epoch)) lr *= s.gamma;
    return lr;
  }
  // cosine from the end of the warm-up to the last step
  const double span = std::max(1.0, static_cast<double>(total_steps) - warm);
  const double x = std::min(1.0, (t - warm) / span);
  return s.final_lr + (s.lr - s.final_lr) * 0.5 * (1 + std::cos(std::numbers::pi * x));
}

}  // namespace bitsim::sim::nn
