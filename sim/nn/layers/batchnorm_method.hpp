// How a batch-norm layer normalizes: the per-channel statistics it takes from a batch (and keeps as
// running estimates), how x_hat is formed from them, and the input gradient. BatchNormLayer
// (batchnorm_layer.hpp) does what every method shares: the rounding sites BN_MEAN, BN_SCALE, BN_NORM
// and A, the affine step, the parameter gradients, x_hat's storage. A method holds what is its own.
//
// Standard BN is here (StandardBatchNorm, the default). The papers' methods live in their folders:
// Range BN in sim/methods/banner2018/, WAGEUBN's BN in sim/methods/wageubn2019/; the config chooses one
// by name through sim/methods/batchnorm_methods.hpp. The formulas of each are in its header.
#pragma once

#include "sim/kernels/ftensor.hpp"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bitsim::sim::nn {

struct BatchNormSpec {
  std::int64_t channels = 0;
  double eps = 1e-5;
  double momentum = 0.1;
};

// What a method reads and writes of its layer.
struct BatchNormData {
  const std::string& layer;  // the layer's name, for messages
  const BatchNormSpec& spec;
  FTensor& running_mean;    // buffer 0 of the checkpoint
  FTensor& running_second;  // buffer 1: the running variance (standard, WAGEUBN) or scale (Range BN)
};

// The per-channel sums backward takes over each channel's M = N*H*W values (double, in the fixed order
// of fixed_order_sum.hpp), and the tensors of the forward pass it reads.
struct BatchNormBackward {
  const FTensor& dy;
  const FTensor& x_hat;                // as stored (rounded to BN_NORM)
  const FTensor* input;                // the forward input: only when the method needs_input()
  std::span<const float> gamma;        // W-rounded
  std::span<const float> mu, r;        // the statistics as used (after their roundings)
  const std::vector<double>& sum_dy;       // dbeta
  const std::vector<double>& sum_dy_xhat;  // dgamma
  const std::vector<double>& sum_dy_dev;   // sum dy float(x - mu): only when the method needs_input()
  int threads = 1;
};

class BatchNormMethod {
 public:
  virtual ~BatchNormMethod() = default;
  // As the config spells it (formats.batchnorm): "standard", "range", "wageubn".
  virtual std::string name() const = 0;
  // What the model summary says of a layer with this method ("range-BN "), ending in a space; or "".
  virtual std::string summary_note() const { return {}; }
  // The initial value of running_second (and after reset).
  virtual float initial_second() const { return 1.0f; }
  // Per-channel mu and r before BN_MEAN and BN_SCALE round them: from the batch x when training
  // (updating the running estimates when update_running), else from the running estimates.
  virtual void statistics(BatchNormData& d, const FTensor& x, bool training, bool update_running, int threads,
                          std::span<float> mu, std::span<float> r) = 0;
  // Called with r after BN_SCALE rounded it (WAGEUBN adds its eps here).
  virtual void after_scale_rounding(std::span<float> r) const { (void)r; }
  // true: x_hat = (x - mu) / r; false: x_hat = (x - mu) * r (fp32, one subtraction, one operation).
  virtual bool divides() const { return false; }
  // Whether backward reads the forward input (kept alive until backward) and sum_dy_dev.
  virtual bool needs_input() const { return false; }
  // dL/dx before the E rounding, into dx (shaped as dy).
  virtual void input_gradient(const BatchNormData& d, const BatchNormBackward& b, FTensor& dx) const = 0;
};

// Mean and (biased) variance of each channel of x, in the fixed order (double).
void batch_mean_variance(const FTensor& x, std::int64_t channels, int threads, std::vector<double>& mean,
                         std::vector<double>& var);
// The running estimates of standard BN: mean and the unbiased variance M/(M-1) var, weighted by
// spec.momentum (PyTorch's convention).
void update_running_mean_variance(BatchNormData& d, const std::vector<double>& mean, const std::vector<double>& var,
                                  std::int64_t m);
// dx = r (gamma dy - gamma sum_dy / M [- x_hat gamma sum_dy_xhat / M]) in double per element, rounded
// to float; without the x_hat term when with_xhat_term is false (Range BN).
void centered_input_gradient(const BatchNormData& d, const BatchNormBackward& b, bool with_xhat_term, FTensor& dx);

// Ioffe & Szegedy 2015 with PyTorch's running statistics (batchnorm_layer.hpp has the formulas).
class StandardBatchNorm final : public BatchNormMethod {
 public:
  std::string name() const override { return "standard"; }
  void statistics(BatchNormData& d, const FTensor& x, bool training, bool update_running, int threads,
                  std::span<float> mu, std::span<float> r) override;
  void input_gradient(const BatchNormData& d, const BatchNormBackward& b, FTensor& dx) const override {
    centered_input_gradient(d, b, true, dx);
  }
};

}  // namespace bitsim::sim::nn
