// Element-wise kernels, pooling and the softmax cross-entropy loss, each with explicit rounding points.
//
// Element-wise arithmetic (add, mul, scale, residual add, ReLU): each result element is the EXACT
// real result of the operation on its operands (taken exactly as the doubles given; they are not
// rounded to any input format first), rounded ONCE to the output format with its rounding mode and
// the format's full quantize rules (formats.md): overflow policy, flush, canonical NaN. Specials follow
// IEEE (and docs/spec/gemm.md rules 2-3): NaN in, NaN out; Inf - Inf = NaN; Inf * 0 = NaN; the sign
// of a product is the XOR of the signs, zeros included; an exactly zero sum is -0 only if both addends
// are -0, or under rdn when they are not both +0. Implementation: the exact result is carried as a
// double pair (TwoSum / TwoProduct) and replaced by its round-to-odd double, which rounds to the
// output format exactly as the real value does whenever the format has at most 50 significant bits
// (fewer with sr: precision + sr_bits <= 51); the formats::Quantizer array kernels then do the single
// rounding. Elements outside that proof (wider formats, products near the double underflow range,
// results beyond the double range) take the golden path on exact rationals: same result, slower.
//
// Stochastic rounding (rounding.mode == sr) needs OutSpec::rng: element j of a result consumes the
// word rng.word(first_word + j) (formats.md section 2), whatever its value, so results do not depend
// on threads or on which elements took the golden path.
//
// Pooling and the gradients that sum several terms are dot products built on gemm() and take a
// GemmConfig; their orders are spelt out at each function. Softmax cross-entropy is computed in
// double (not exact; a fixed order of operations, so deterministic) and rounded once to its output
// formats.
#pragma once

#include "io/error.hpp"
#include "formats/format.hpp"
#include "formats/random_words.hpp"
#include "formats/rounding.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/kernels/nchw.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace bitsim::sim {

// A value the output rounding cannot take (e.g. NaN into a format without NaN), naming the operation
// and the flat index of the element.
class OpError : public bitsim::Error {
 public:
  using Error::Error;
};

// Where a result is rounded to: format, rounding (sr allowed), and for sr the random words.
struct OutSpec {
  formats::Format format;
  formats::RoundingSpec rounding{};
  std::optional<formats::PhiloxWords> rng;  // required when rounding.mode == sr
  std::uint64_t first_word = 0;             // element j uses rng->word(first_word + j)
};

// ---- element-wise (a, b of equal length; results have that length) ---------------------------------
std::vector<double> round_to(const OutSpec& out, std::span<const double> x);  // round(x)
std::vector<double> add(const OutSpec& out, std::span<const double> a, std::span<const double> b);  // round(a + b)
std::vector<double> mul(const OutSpec& out, std::span<const double> a, std::span<const double> b);  // round(a * b)
std::vector<double> scale(const OutSpec& out, double s, std::span<const double> a);                 // round(s * a)
// round(a + b) for two activations of the same shape (the join of a residual block).
NchwArray residual_add(const OutSpec& out, const NchwArray& a, const NchwArray& b);

// ReLU: y = round(x > 0 ? x : +0) (NaN stays NaN, -0 gives +0).
std::vector<double> relu_forward(const OutSpec& out, std::span<const double> x);
// dx = round(x > 0 ? dy : +0) with x the forward input; NaN where x is NaN (a NaN is not hidden).
std::vector<double> relu_backward(const OutSpec& out, std::span<const double> x, std::span<const double> dy);

// ---- pooling ----------------------------------------------------------------------------------------
// Windows: output (oh, ow) covers input rows oh*stride_h - pad_h + kh, kh = 0..kernel_h-1 (columns
// likewise); OH = floor((H + 2*pad_h - kernel_h) / stride_h) + 1 >= 1. 0 <= pad < kernel, so every
// window holds at least one input element.
struct Pool2dParams {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;
};
Nchw pool2d_output_shape(const Nchw& x, const Pool2dParams& p);

// Max pooling forward: y = round(max of the window's input elements) (padding never wins). The max
// is exact; one rounding. Ties: the first element in (kh, kw) order; a NaN in the window wins (the
// first NaN). argmax[e] is the flat index into x of the element chosen for output element e.
struct MaxPoolResult {
  NchwArray y;
  std::vector<std::int64_t> argmax;
};
MaxPoolResult max_pool2d_forward(const OutSpec& out, const NchwArray& x, const Pool2dParams& p);

// Max pooling backward: dx[n][c][ih][iw] is the dot product (gemm(), `config`) over K = kernel_h*kernel_w
// terms in the nesting kh' = 0..kernel_h-1, kw' = 0..kernel_w-1 (kh = kernel_h-1-kh', likewise kw;
// the same order as conv2d_backward_input), a_k = dy[n][c][oh][ow] for the window (oh, ow) that reads
// (ih, iw) at tap (kh, kw) when that window's argmax is (ih, iw), else +0; b_k = 1. So overlapping
// windows (stride < kernel) are summed by the configured accumulator, never outside it.
// config.b_format is replaced by fp32 (the ones are exact).
NchwArray max_pool2d_backward(const GemmConfig& config, const NchwArray& dy, std::span<const std::int64_t> argmax,
                              const Nchw& x_shape, const Pool2dParams& p, int threads = 1);

// Average pooling = a depthwise convolution (groups = C) with every weight 1/(kernel_h*kernel_w),
// computed by conv2d_forward / conv2d_backward_input (conv2d.hpp) with `config`: the weight is rounded
// to config.b_format (rne; exact for power-of-two windows in most formats), products and accumulation
// follow config, one rounding to config.out_format. Forward: y[n][c][oh][ow] is the dot product over
// (kh, kw) in that nesting of x (+0 in the padding) with the weight; the divisor is always
// kernel_h*kernel_w, padding included. Backward: dx is the dot product over (kh', kw') as in
// conv2d_backward_input, of dy with the weight.
NchwArray avg_pool2d_forward(const GemmConfig& config, const NchwArray& x, const Pool2dParams& p, int threads = 1);
NchwArray avg_pool2d_backward(const GemmConfig& config, const NchwArray& dy, const Nchw& x_shape, const Pool2dParams& p,
                              int threads = 1);

// Global average pooling: average pooling with the window the whole H x W plane (weight 1/(H*W),
// K = H*W in (h, w) order); y has shape [N, C, 1, 1]. Backward: avg_pool2d_backward with that window,
// so dx[n][c][h][w] is a dot product of H*W terms of which only one, dy[n][c] * weight, is not +0.
NchwArray global_avg_pool_forward(const GemmConfig& config, const NchwArray& x, int threads = 1);
NchwArray global_avg_pool_backward(const GemmConfig& config, const NchwArray& dy, const Nchw& x_shape, int threads = 1);

// ---- softmax cross-entropy (logits: rows = batch, columns = classes; labels: one class per row) ----
// Computed in double, in this fixed order, per row i: m = max_j z[i][j] (j increasing);
// s = sum_j exp(z[i][j] - m) (j increasing, double additions); p[i][j] = exp(z[i][j] - m) / s;
// loss_i = (m + log(s)) - z[i][label_i]. loss = (sum_i loss_i, i increasing) / N (mean over the batch).
// Results: loss rounded once to loss_out, probabilities to prob_out (word index for sr: row-major).
struct SoftmaxCeResult {
  double loss = 0;
  Matrix probs;
};
SoftmaxCeResult softmax_cross_entropy_forward(const OutSpec& loss_out, const OutSpec& prob_out, const Matrix& logits,
                                              std::span<const std::int64_t> labels);
// dL/dz[i][j] = (p[i][j] - [j == label_i]) / N, with p the double probabilities above (not the rounded
// ones), rounded once to `out`.
Matrix softmax_cross_entropy_backward(const OutSpec& out, const Matrix& logits, std::span<const std::int64_t> labels);

}  // namespace bitsim::sim
