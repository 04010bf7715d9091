// Building the GEMM operands of a convolution (im2col) as row-major [K][P] float matrices: row k is
// one kernel tap of one channel, column p one output position. Internal to sim/nn (conv_layer.cpp).
#pragma once

#include <cstdint>

namespace bitsim::sim::nn {

// Forward operand: out[k][oh*OW + ow], k = (c*KH + kh)*KW + kw for rows k in [k_begin, k_end), holds
// x[c][oh*stride - pad + kh][ow*stride - pad + kw] (+0 outside the input). x is one image [C][H][W];
// out points at row k_begin (row stride OH*OW).
void im2col_rows(const float* x, std::int64_t H, std::int64_t W, std::int64_t KH, std::int64_t KW, std::int64_t OH,
                 std::int64_t OW, std::int64_t stride, std::int64_t pad, std::int64_t k_begin, std::int64_t k_end,
                 float* out);

// Input-gradient operand (conv2d.hpp's transposed convolution): out[k'][ih*W + iw],
// k' = (co*KH + a)*KW + b, holds dy[co][oh][ow] with kh = KH-1-a, kw = KW-1-b, oh = (ih + pad - kh) / stride,
// ow = (iw + pad - kw) / stride when both divisions are exact and in range, else +0. dy is one image
// [CO][OH][OW]; all CO*KH*KW rows are written.
void im2col_transposed_rows(const float* dy, std::int64_t CO, std::int64_t OH, std::int64_t OW, std::int64_t KH,
                            std::int64_t KW, std::int64_t H, std::int64_t W, std::int64_t stride, std::int64_t pad,
                            float* out);

}  // namespace bitsim::sim::nn
