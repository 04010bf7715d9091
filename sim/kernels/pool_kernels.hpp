// Average pooling (forward and backward) and max pooling's backward, with the choice of kernel made
// here: the engine's fp32 loops for a GemmSetup it computes itself (GemmSetup::is_fast(): one fp32
// chain of fused multiply-adds per element, in window order (kh, kw), as elementwise.hpp specifies),
// the reference kernels of elementwise.hpp on doubles otherwise. Both give the same bits for the
// default setup (tests/test_nn_layers.cpp). Max pooling's forward is a comparison, the same under
// every setup (the layer's own loop).
#pragma once

#include "sim/kernels/elementwise.hpp"
#include "sim/kernels/ftensor.hpp"
#include "sim/kernels/gemm_setup.hpp"

#include <cstdint>
#include <span>

namespace bitsim::sim::nn {

// y = the mean of each window (weight 1/(kernel_h kernel_w), padding counted as zeros); `global`: the
// window is the whole plane (p gives it: kernel = H x W, stride 1, pad 0), y [n, c, 1, 1].
void avg_pool_forward(const GemmSetup& gemm, const FTensor& x, const Pool2dParams& p, bool global, FTensor& y, int threads);
// dx [x_shape]: each dy spread over its window with the same weight.
void avg_pool_backward(const GemmSetup& gemm, const FTensor& dy, const Nchw& x_shape, const Pool2dParams& p, bool global, FTensor& dx,
                       int threads);
// dx [x_shape]: dy added at each window's winner; argmax holds, per output element, the winner's
// offset within its image plane. Where windows overlap a winner can collect several terms: a dot
// product under the setup (the reference kernel when the setup is not the engine's).
void max_pool_backward(const GemmSetup& gemm, const FTensor& dy, std::span<const std::int32_t> argmax, const Nchw& x_shape,
                       const Pool2dParams& p, FTensor& dx, int threads);

}  // namespace bitsim::sim::nn
