// The uniform min/max ("range") quantizer of Banner et al. 2018, as their reference code
// (quantized.pytorch, UniformQuantize, default path without a zero point) computes it:
//
//   range [lo, hi] (double), b bits, qmax = 2^b - 1
//   s = max((hi - lo) / qmax, 1e-8)                         (double)
//   t = (x - float(lo)) / float(s)                          (fp32: one subtraction, one division;
//                                                            dividing, not multiplying by 1/s)
//   stochastic: t = t + u,  u = (w >> 8) * 2^-24 - 1/2      (fp32, exact; w = Philox word of element i)
//   q = round_half_even(clamp(t, 0, qmax))                  (clamp first, then round, as the reference)
//   y = q * float(s) + float(lo)                            (fp32: one multiplication, one addition)
//
// So y lies on the grid lo + k s, k = 0..qmax (zero is generally not on it). The backward pass is the
// straight-through estimator: gradients pass unchanged.
//
// With true_zero (the reference's enforce_true_zero path, gemmlowp's zero point): first the range is
// widened to contain 0 (lo = min(lo, 0), hi = max(hi, 0), as gemmlowp does; the reference's unused path
// does not, and maps a constant positive tensor to qmax * 1e-8), then s as above and
//   z = trunc(clamp(-lo / s, 0, qmax))                      (double; an integer code)
//   t = x / float(s) + float(z)                             (fp32), noise, clamp, round as above
//   y = (q - float(z)) * float(s)                           (fp32)
// so zero is exactly on the grid (code z), which sits at (k - z) s.
//
// Ranges: `tensor` = min and max over all elements; `sample_mean` = the mean over samples (the first
// axis) of each sample's min and of each sample's max (the reference's QuantMeasure for activations),
// both in double in sample order (RangeArithmetic::f64: additions and the division in double), or in
// float32 (RangeArithmetic::f32: each addition and the division rounded to float, in sample order,
// as float32 tensors compute them; the reference's `.mean()` is float32, in its own order). Any NaN
// or infinity in a measured tensor is an error naming the first such element: a range from it would
// be meaningless.
#pragma once

#include "formats/random_words.hpp"
#include "sim/methods/loops.hpp"

#include <cstdint>
#include <span>

namespace bitsim::sim::methods {

struct ValueRange {
  double lo = 0, hi = 0;
};

// Min and max of all elements. Throws formats::QuantizeError ("element i: ...") on a non-finite element.
// `loops` (loops.hpp) here and below: the vector loops of range_loops.hpp, or the scalar reference loops.
ValueRange measure_tensor_range(std::span<const float> x, int threads = 1, Loops loops = Loops::vector);
// How the per-sample means and the running estimates are computed: in double (the default) or with
// every operation rounded to float (the reference code's float32 tensors).
enum class RangeArithmetic { f64, f32 };

// Mean over `samples` equal slices of x of each slice's min and max. samples >= 1 must divide x.size().
ValueRange measure_sample_mean_range(std::span<const float> x, std::int64_t samples, int threads = 1,
                                     RangeArithmetic arithmetic = RangeArithmetic::f64, Loops loops = Loops::vector);

// The scale s of the comment above (double).
double range_scale(ValueRange r, int bits);

// Quantizes x in place onto the grid of `r` with `bits` (1..24) bits; `noise` null: round to nearest
// even; else element i adds the noise of word noise->word(i). Elements are independent, so the split over
// `threads` never changes a result. NaN inputs are not checked here (the measuring functions do).
void range_quantize(std::span<float> x, ValueRange r, int bits, const formats::PhiloxWords* noise, int threads = 1,
                    bool true_zero = false, Loops loops = Loops::vector);
// The true_zero variant's range (widened to contain 0) and zero point z.
ValueRange range_with_zero(ValueRange r);
double range_zero_point(ValueRange r, int bits);

}  // namespace bitsim::sim::methods
