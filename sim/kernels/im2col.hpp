// Building the GEMM operands of a convolution (im2col): row k is one kernel tap of one channel,
// column p one output position. Written either as a row-major [K][P] float matrix or straight into the
// panel layout of panel_gemm.hpp (which skips a copy). Internal to sim/nn (conv_layer.cpp).
#pragma once

#include "sim/kernels/panel_gemm.hpp"

#include <cstdint>

namespace bitsim::sim::nn {

// Where im2col writes: rows k - k_begin of a row-major matrix with row stride P ...
struct RowsOut {
  float* base;
  std::int64_t P, k_begin;
};
// ... or element (k, p) of B in panels (Panels::resize(K, P) done by the caller).
struct PanelsOut {
  Panels* panels;
};

// Forward operand: (k, oh*OW + ow), k = (c*KH + kh)*KW + kw for k in [k_begin, k_end), holds
// x[c][oh*stride - pad + kh][ow*stride - pad + kw] (+0 outside the input). x is one image [C][H][W].
template <class Out>
void im2col(const float* x, std::int64_t H, std::int64_t W, std::int64_t KH, std::int64_t KW, std::int64_t OH,
            std::int64_t OW, std::int64_t stride, std::int64_t pad, std::int64_t k_begin, std::int64_t k_end, Out out);

// Input-gradient operand (conv2d.hpp's transposed convolution): (k', ih*W + iw), k' = (co*KH + a)*KW + b,
// holds dy[co][oh][ow] with kh = KH-1-a, kw = KW-1-b, oh = (ih + pad - kh) / stride,
// ow = (iw + pad - kw) / stride when both divisions are exact and in range, else +0. dy is one image
// [CO][OH][OW]; all CO*KH*KW rows are written. Instantiated for PanelsOut (the only use).
template <class Out>
void im2col_transposed(const float* dy, std::int64_t CO, std::int64_t OH, std::int64_t OW, std::int64_t KH,
                       std::int64_t KW, std::int64_t H, std::int64_t W, std::int64_t stride, std::int64_t pad, Out out);

}  // namespace bitsim::sim::nn
