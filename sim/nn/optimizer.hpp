// SGD with momentum (PyTorch's formulation), optional Nesterov, and L2 weight decay, with the update
// and momentum roles of each layer (role.hpp). Per parameter element, in fp32 (no fused operations):
//   g = grad + wd * w                    (grad already rounded to G; w the stored value; with
//                                         decay_in_gradient the layer added wd * w before rounding to
//                                         G instead, Layer::grad_decay, and g = grad here)
//   m = round_M(mu * m + g)
//   d = nesterov ? g + mu * m : m
//   u = round_U(lr * d)                  (lr as given: with optimizer.lr_bits the trainer passes WAGEUBN's
//                                         rounded rate, methods::wageubn_learning_rate)
//   w = round_W_MASTER(w - u), or round_W(w - u) when master_weights is false (the weights stored in
//       W's format); W_MASTER is fp32 by default, so the stored weights stay fp32.
// With mu = 0 the momentum buffer is still kept (m = round_M(g)), so the formula has one shape.
// WAGEUBN's reference updates with the unrounded accumulator and rounds it after; here the rounded m
// is what is multiplied (every operand of a product is on its grid).
#pragma once

#include "sim/nn/model.hpp"

namespace bitsim::sim::nn {

struct SgdConfig {
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool decay_bn_and_bias = true;  // weight decay on batch-norm gamma/beta and biases too (PyTorch's default)
  bool master_weights = true;
  bool decay_in_gradient = false;  // weight_decay_point = "gradient": L2 added to the gradient before G
  int lr_bits = 0;                 // > 0: the trainer rounds the learning rate as WAGEUBN's Q(lr, k)
                                   // (methods::wageubn_learning_rate) before sgd_step; 0: used as is
};

// One optimizer step on every parameter of `model` with learning rate lr (as given; config.lr_bits is
// the caller's). ctx keys the sr streams.
void sgd_step(Model& model, const SgdConfig& config, double lr, StepContext ctx);

// Adam (Kingma and Ba 2015) and AdamW (decoupled weight decay, Loshchilov and Hutter 2019) as PyTorch
// 1.13 computes them (torch.optim.Adam / AdamW, single-tensor path), with the roles M (first moment), V
// (second moment), U and W_MASTER. With t the number of this step (1 for the first) and the scalars formed in double and then cast to
// float (as PyTorch casts a Python scalar for a float tensor), per parameter element in fp32, no fused
// operations:
//   g = grad (+ wd * w for Adam with weight decay, unless the layer added it before G, as for SGD)
//   w = w * (1 - lr * wd)                          (AdamW only: the decoupled decay, before the step)
//   m = round_M(m * b1 + g * (1 - b1))
//   v = round_V(v * b2 + ((1 - b2) * g) * g)
//   u = round_U((s * m) / (sqrt(v) / c + eps))    s = lr / (1 - b1^t), c = sqrt(1 - b2^t)
//   w = round_W_MASTER(w - u), or round_W(w - u) without master weights (SgdConfig::master_weights)
// Weight decay, decay_bn_and_bias, decay_in_gradient and master_weights are SgdConfig's keys;
// momentum and nesterov are SGD's only.
struct AdamConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};
// `decoupled`: AdamW's weight decay (optimizer.name = "adamw"), else Adam's (wd * w in the gradient).
void adam_step(Model& model, const SgdConfig& common, const AdamConfig& config, bool decoupled, double lr, std::uint64_t t,
               StepContext ctx);

// Learning-rate schedule over optimizer steps (steps_per_epoch converts epochs).
struct ScheduleConfig {
  std::string type = "cosine";    // constant | step | cosine
  double lr = 0.1;                // base learning rate
  double warmup_epochs = 0;       // linear ramp from lr/warmup steps to lr over these epochs
  std::vector<double> milestones; // step: epochs at which lr is multiplied by gamma
  double gamma = 0.1;
  double final_lr = 0;            // cosine: value at the last step
  // WAGEUBN's schedule of the weight gradients' dynamic range: gscale[0] from the start, gscale[i]
  // from epoch gscale_milestones[i-1] on (one more value than milestones; powers of two). Empty: the
  // constant quantizers keep the gscale of their spec. Applied by sim/methods/wageubn2019/gradient_range.hpp.
  std::vector<std::int64_t> gscale;
  std::vector<double> gscale_milestones;
};
double learning_rate(const ScheduleConfig& s, std::int64_t step, std::int64_t steps_per_epoch, std::int64_t total_steps);

}  // namespace bitsim::sim::nn
