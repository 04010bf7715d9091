// Batch normalization (Ioffe & Szegedy 2015), per channel over N*H*W values (so also after a linear
// layer, whose output is [N, C, 1, 1]), split into normalization and affine steps (Graham 2017):
//
//   training:  mean_c = sum x / M,  var_c = sum (x - mean_c)^2 / M   (double; every sum here is taken
//              in one fixed order: 8 interleaved partial sums, element i of each (n, c) plane into
//              partial i mod 8, planes in increasing n, partials combined as ((0+1)+(2+3))+((4+5)+(6+7)))
//              running_mean = (1 - momentum) running_mean + momentum mean_c, running_var likewise with
//              the unbiased variance M/(M-1) var_c (PyTorch's convention)
//   inference: mean_c = running_mean, var_c = running_var
//   mu_c = round_BN_MEAN(float(mean_c)),  r_c = round_BN_SCALE(float(1 / sqrt(var_c + eps)))
//   x_hat = round_BN_NORM(float((x - mu_c) * r_c))        (fp32: one subtraction, one multiplication)
//   y = round_A(gamma_c * x_hat + beta_c)                   (fp32: one multiplication, one addition)
// Backward reads the stored (rounded) x_hat and r_c, as Graham 2017 eq. (2) proposes:
//   dbeta_c = sum dy,  dgamma_c = sum dy * x_hat             (double, the same order) -> G
//   dx = r_c * (gamma_c dy - (gamma_c dbeta_c + x_hat gamma_c dgamma_c) / M)  (double, rounded to
//        float) -> E
// With no rounding (fp32 roles) this is the exact gradient of the forward pass up to fp32 rounding.
//
// The method (batchnorm_method.hpp) decides how mean_c and the scale come from the batch, whether
// x_hat multiplies or divides, and dx; the above is StandardBatchNorm, the default. Range BN
// (sim/methods/banner2018/range_batchnorm.hpp) and WAGEUBN's BN
// (sim/methods/wageubn2019/wageubn_batchnorm.hpp) document their own formulas; set_method() chooses.
//
// Storage of N(x) between forward and backward (Graham 2017: "store a quantized version of N(x)"): in a
// training step whose BN_NORM role stores values as codes of a number format of at most 16 bits (not
// the identity, not a range or WAGEUBN quantizer), the layer keeps x_hat only as that format's codes,
// packed at the format's width (sim/tensor/packing.hpp: ceil(n w / 8) bytes for w <= 8), and backward
// decodes them. Graham's log
// formats and O4 have no code for +-0 (formats.md): with those, an x_hat of +-0 is kept as an exception
// (its flat index and sign), which costs 8 bytes each and only arises for an input equal to its
// channel mean (a constant channel, say).
// The fp32 x_hat buffer is scratch: forward computes y from it, backward overwrites it from the codes,
// so the result is bit for bit the one of fp32 storage (a test checks). storage() reports the bytes.
#pragma once

#include "formats/quantizer.hpp"
#include "sim/nn/layers/batchnorm_method.hpp"
#include "sim/nn/layer.hpp"
#include "sim/tensor/packing.hpp"

#include <memory>

namespace bitsim::sim::nn {

struct LayerBuild;  // layer_registry.hpp

// What a batch-norm layer keeps from its last training forward pass for backward.
struct BatchNormStorage {
  std::int64_t values = 0;        // elements of x_hat
  int bits_per_value = 32;        // width of the stored x_hat: the BN_NORM format's, or 32 (fp32 floats)
  std::int64_t norm_bytes = 0;    // bytes holding x_hat (packed codes, or 4 per float)
  std::int64_t exceptions = 0;    // x_hat values of +-0 without a code, kept aside
  std::int64_t exception_bytes = 0;  // 8 per exception
  std::int64_t stat_bytes = 0;    // per-channel mean and scale as used (2 floats per channel)
  std::int64_t input_bytes = 0;   // a method that needs_input() (WAGEUBN) reads it (4 per float); else 0
  std::int64_t total() const { return norm_bytes + exception_bytes + stat_bytes + input_bytes; }
};

class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(const BatchNormSpec& spec);
  const char* kind() const override { return "batchnorm"; }
  bool uses_role(Role r) override {
    return r == Role::BN_MEAN || r == Role::BN_SCALE || r == Role::BN_NORM || Layer::uses_role(r);
  }
  std::string summary_notes() const override;
  Nchw output_shape(std::span<const Nchw> in) const override;
  void forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) override;
  void backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) override;
  std::vector<Param*> params() override { return {&gamma_, &beta_}; }
  std::vector<FTensor*> buffers() override { return {&running_mean_, &running_second_}; }
  // Running mean 0; the second buffer at the method's initial value (variance 1; Range BN's scale 0).
  void reset_buffers() override;
  // Normalizes with `method` from now on (StandardBatchNorm until set); resets the buffers.
  void set_method(std::unique_ptr<BatchNormMethod> method);
  const BatchNormMethod& method() const { return *method_; }
  // The normalized activation x_hat of the last forward pass as used (for tests and statistics; valid
  // until backward, which rebuilds it from the stored codes).
  const FTensor& normalized() const { return x_hat_; }
  // Whether training steps keep x_hat as packed codes when BN_NORM allows it (default true; false keeps
  // fp32 floats, for comparison).
  void set_store_codes(bool on) { store_codes_ = on; }
  // Bits per value a training step keeps x_hat in: the BN_NORM format's width when stored as codes,
  // else 32.
  int stored_norm_bits() const { return codes_possible() ? roles[Role::BN_NORM].format().width() : 32; }
  // What the last training forward pass kept for backward (zeros before any).
  BatchNormStorage storage() const;

 private:
  BatchNormSpec spec_;
  Param gamma_, beta_;
  FTensor running_mean_, running_second_;
  std::unique_ptr<BatchNormMethod> method_;
  FTensor x_hat_, mu_, r_;  // x_hat and the per-channel statistics as used
  const FTensor* input_ = nullptr;  // the forward input (alive until backward), for method_->needs_input()
  // x_hat as codes of the BN_NORM format (see the header comment)
  bool store_codes_ = true;
  bool codes_valid_ = false;             // the last training forward stored codes
  bool stored_any_ = false;              // a training forward has run
  std::shared_ptr<const formats::Quantizer> code_q_;  // encodes / decodes BN_NORM's format (rne)
  bool zero_has_code_ = true;            // false for Graham's log formats and O4
  sim::PackedCodes codes_;
  std::vector<std::int64_t> zero_at_;    // exceptions: flat index * 2 + sign bit of the +-0

  bool codes_possible() const;
  void store_codes(int threads);
  void load_codes(int threads);

  BatchNormData data() { return BatchNormData{name, spec_, running_mean_, running_second_}; }
};

// The registry's constructor of `type = "batchnorm"` (layer_registry.hpp).
std::unique_ptr<Layer> make_batchnorm_layer(const LayerBuild& b);

}  // namespace bitsim::sim::nn
