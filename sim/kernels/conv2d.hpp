// 2-D convolution (NCHW, stride, padding, dilation, groups): forward and its two backward products,
// each lowered to gemm() (sim/kernels/gemm.hpp) so that every output element is exactly one GEMM dot product
// under one GemmConfig: inputs rounded to config.a_format / config.b_format (rne), products exact or
// rounded to config.product, accumulated by config.acc in config.order (sequential, pairwise or
// blocked, docs/spec/gemm.md rules 5-8), then rounded to config.out_format with config.rounding.
// Because the accumulation order is part of the result, the dot product of every element is spelt
// out below, index by index. gemm.md's rules apply to it unchanged: it is the same as calling
// gemm_reference() on a 1xK row and a Kx1 column holding the values listed, in that order.
//
// Notation. x: [N, C_in, H, W]; w: [C_out, C_in/G, KH, KW]; y, dy: [N, C_out, OH, OW]; G = groups,
// Cig = C_in/G, Cog = C_out/G; group g owns input channels g*Cig .. g*Cig+Cig-1 and output channels
// g*Cog .. g*Cog+Cog-1. Stride (sh, sw) >= 1, padding (ph, pw) >= 0, dilation (dh, dw) >= 1;
//   OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1   (and OW likewise), which must be >= 1.
// The input row read by output row oh at kernel row kh is ih = oh*sh - ph + kh*dh (columns likewise).
// A tap whose ih or iw falls outside the input (padding) is a product with x = +0: it is still one of
// the K products, so K is the same for every element and the pairwise tree / blocked chunks have the
// same shape everywhere (a MAC array fed by im2col sees these zeros too).
//
// FORWARD  y = conv2d_forward(config, x, w):  A = activations (a_format), B = weights (b_format).
//   y[n][co][oh][ow], co = g*Cog + j, is the dot product over K = Cig*KH*KW terms, k in the nesting
//     for ci in 0..Cig-1:  for kh in 0..KH-1:  for kw in 0..KW-1:
//       a_k = x[n][g*Cig+ci][oh*sh-ph+kh*dh][ow*sw-pw+kw*dw]   (+0 outside the input)
//       b_k = w[co][ci][kh][kw]
//   (im2col per image and group: C[(oh,ow)][j] = sum_k A[(oh,ow)][k] * B[k][j].)
//   Bias (optional, one value per output channel, taken exactly as given): added after the GEMM,
//   y = round_out(gemm_value + bias[co]): the sum is exact and rounded once, to out_format with
//   config.rounding, i.e. the element-wise add() of elementwise.hpp. So a biased output has two
//   rounding points (the GEMM's output rounding, then the bias add).
//
// INPUT GRADIENT  dx = conv2d_backward_input(config, dy, w, x_shape):  A = dy (a_format), B = w (b_format).
//   The transposed convolution written as a direct convolution: dy is upsampled by the stride (zeros
//   between its rows/columns), padded, and convolved (stride 1, dilation d) with the weights flipped
//   in kh and kw and transposed in the channels. dx[n][ci_g][ih][iw], ci_g = g*Cig + j, is the dot
//   product over K = Cog*KH*KW terms, k in the nesting
//     for co in 0..Cog-1:  for kh' in 0..KH-1:  for kw' in 0..KW-1:        (kh = KH-1-kh', kw = KW-1-kw')
//       a_k = dy[n][g*Cog+co][oh][ow]  with oh = (ih + ph - kh*dh) / sh, ow = (iw + pw - kw*dw) / sw
//             when both divisions are exact and 0 <= oh < OH, 0 <= ow < OW; otherwise +0
//       b_k = w[g*Cog+co][j][kh][kw]
//   For a fixed co the non-zero terms therefore visit dy in increasing (oh, ow) order. x_shape is
//   needed because several input sizes give the same output size when the stride is > 1.
//
// WEIGHT GRADIENT  dw = conv2d_backward_weight(config, x, dy, w_shape):  A = dy (a_format), B = x (b_format).
//   dw[g*Cog+i][ci][kh][kw] is the dot product over K = N*OH*OW terms, k in the nesting
//     for n in 0..N-1:  for oh in 0..OH-1:  for ow in 0..OW-1:
//       a_k = dy[n][g*Cog+i][oh][ow]
//       b_k = x[n][g*Cig+ci][oh*sh-ph+kh*dh][ow*sw-pw+kw*dw]   (+0 outside the input)
//   The whole batch is one accumulation (one GEMM per group, K = N*OH*OW; computed in column tiles,
//   which does not change any element's dot product).
//
// BIAS GRADIENT  db = conv2d_backward_bias(config, dy): db[co] is the dot product over K = N*OH*OW,
//   k in the nesting (n, oh, ow), a_k = dy[n][co][oh][ow], b_k = 1. config.b_format is replaced by
//   fp32 (the ones are exact); everything else as configured.
//
// Values: every result value is an exact value of config.out_format (as the nearest double, which is
// the value itself for formats that fit a double).
//
// Threads: independent GEMMs (one per image and group, or per weight-gradient tile) are dealt to
// threads in fixed contiguous blocks; when there are fewer GEMMs than threads, each GEMM gets the
// threads instead. Every element is computed by one dot product whatever the split, so results are
// bit-identical for any thread count. Errors: KernelShapeError for bad shapes or parameters (naming
// the dimension); GemmError (from gemm(), with the image/group and GEMM coordinates prepended) for a
// value a rounding cannot take.
#pragma once

#include "sim/kernels/gemm.hpp"
#include "sim/kernels/nchw.hpp"

#include <cstdint>
#include <span>

namespace bitsim::sim {

struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

// Shape of y for x and w; throws KernelShapeError naming the bad dimension or parameter.
Nchw conv2d_output_shape(const Nchw& x, const Nchw& w, const Conv2dParams& p);

// y = conv(x, w) (+ bias). `bias` is empty or holds C_out values.
NchwArray conv2d_forward(const GemmConfig& config, const NchwArray& x, const NchwArray& w, const Conv2dParams& p,
                         int threads = 1, std::span<const double> bias = {});

// dL/dx from dL/dy and w; x_shape is the forward input's shape (dy.shape must be its output shape).
NchwArray conv2d_backward_input(const GemmConfig& config, const NchwArray& dy, const NchwArray& w, const Nchw& x_shape,
                                const Conv2dParams& p, int threads = 1);

// dL/dw from the forward input x and dL/dy; w_shape is the weight's shape.
NchwArray conv2d_backward_weight(const GemmConfig& config, const NchwArray& x, const NchwArray& dy, const Nchw& w_shape,
                                 const Conv2dParams& p, int threads = 1);

// dL/dbias: C_out values.
std::vector<double> conv2d_backward_bias(const GemmConfig& config, const NchwArray& dy, int threads = 1);

}  // namespace bitsim::sim
