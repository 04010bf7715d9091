// The products of a convolution layer, with the choice of kernel made here, not in the layer: for a
// GemmSetup the engine computes itself (GemmSetup::is_fast(): fp32 accumulation in k order, exact
// products) the engine's fp32 panel kernels (panel_gemm.hpp) on im2col operands or, at stride 1, on
// the zero-padded image read in place; for any other setup the reference kernels of conv2d.hpp on
// doubles. Both give every output element as ONE dot product in conv2d.hpp's order (forward: ci, kh,
// kw; input gradient: co, kh', kw' over the flipped kernel; weight gradient: the whole batch n, oh,
// ow), rounded to fp32, so they agree bit for bit on the default setup (tests/test_nn_layers.cpp).
// The forward and the input gradient run image by image over threads; the weight gradient carries one
// fp32 accumulation chain per element through the batch, its rows split over threads. Results never
// depend on the thread count.
#pragma once

#include "sim/kernels/conv2d.hpp"
#include "sim/kernels/ftensor.hpp"
#include "sim/kernels/gemm_setup.hpp"
#include "sim/kernels/panel_gemm.hpp"

#include <vector>

namespace bitsim::sim::nn {

// One layer's convolution kernels and the scratch buffers they reuse from step to step.
class ConvKernels {
 public:
  // y = conv(x, w) [n, co, oh, ow], plus bias[co] (one float addition per element) when bias is not null.
  void forward(const GemmSetup& g, const FTensor& x, const FTensor& w, const float* bias, const Conv2dParams& p, FTensor& y,
               int threads);
  // dx [x_shape] from dy and the weights w.
  void backward_input(const GemmSetup& g, const FTensor& dy, const FTensor& w, const Nchw& x_shape, const Conv2dParams& p,
                      FTensor& dx, int threads);
  // dw [w_shape] from the input x and dy, and the bias gradient [1, co, 1, 1] (sum of dy per channel,
  // in (n, oh, ow) order) into dbias when it is not null.
  void backward_weight(const GemmSetup& g, const FTensor& x, const FTensor& dy, const Nchw& w_shape, const Conv2dParams& p,
                       FTensor& dw, FTensor* dbias, int threads);

 private:
  void forward_fast(const FTensor& x, const FTensor& w, const float* bias, const Conv2dParams& p, FTensor& y, int threads);
  void backward_input_fast(const FTensor& dy, const FTensor& w, const Nchw& x_shape, const Conv2dParams& p, FTensor& dx,
                           int threads);
  void backward_input_by_phase(const FTensor& dy, const Nchw& x_shape, std::int64_t KH, std::int64_t KW, std::int64_t stride,
                               std::int64_t pad, FTensor& dx, int threads);
  void backward_weight_fast(const FTensor& x, const FTensor& dy, const Nchw& w_shape, const Conv2dParams& p, FTensor& dw,
                            FTensor* dbias, int threads);

  std::vector<float> flipped_;          // input-gradient weights [ci][co][kh'][kw']
  std::vector<float> transposed_grad_;  // dW^T [k][co] while the weight gradient accumulates
  std::vector<float> xpad_all_;         // weight gradient: every image zero-padded
  std::vector<Panels> dyt_all_;         // weight gradient: every image's dy^T in panels
};

}  // namespace bitsim::sim::nn
