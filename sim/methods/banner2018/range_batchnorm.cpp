#include "sim/methods/banner2018/range_batchnorm.hpp"

#include "formats/quantizer.hpp"
#include "sim/kernels/nchw.hpp"
#include "sim/nn/layers/fixed_order_sum.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace bitsim::sim::methods {

using nn::BatchNormBackward;
using nn::BatchNormData;
using nn::FTensor;

double range_bn_constant(std::int64_t n) {
  // 0.5 * 0.35 * (1 + sqrt(pi * ln 4)): the reference code's bound on the expected range of n Gaussian
  // samples, over sqrt(2 ln n) (Banner et al. 2018, section 4).
  return 0.540208362487903 / std::sqrt(2.0 * std::log(static_cast<double>(n)));
}

RangeBatchNorm::RangeBatchNorm(std::int64_t chunks, double new_weight) : chunks_(chunks), new_weight_(new_weight) {
  if (chunks < 1) throw KernelShapeError("Range BN needs at least 1 chunk");
  if (!(new_weight >= 0 && new_weight <= 1)) throw KernelShapeError("Range BN new_weight must be in [0, 1]");
}

void RangeBatchNorm::statistics(BatchNormData& d, const FTensor& x, bool training, bool update_running, int threads,
                                std::span<float> mu, std::span<float> r) {
  const std::int64_t C = d.spec.channels;
  scale_.resize(static_cast<std::size_t>(C));
  std::vector<double> mean(static_cast<std::size_t>(C));
  if (!training) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(C); ++i) {
      mean[i] = d.running_mean.data[i];
      scale_[i] = d.running_second.data[i];
    }
  } else {
    const std::int64_t N = x.shape.n, HW = x.shape.h * x.shape.w, M = N * HW, K = chunks_;
    if (M % K != 0 || M / K < 2)
      throw KernelShapeError(fmt::format("{}: Range BN splits the {} values per channel (batch {} x {}x{}) into {} chunks: "
                                         "they must divide evenly with at least 2 values per chunk",
                                         d.layer, M, N, x.shape.h, x.shape.w, K));
    const std::int64_t L = M / K;
    const double cn = range_bn_constant(L);
    arg_max_.resize(static_cast<std::size_t>(C * K));
    arg_min_.resize(static_cast<std::size_t>(C * K));
    std::vector<double> span_sum(static_cast<std::size_t>(C));
    detail::run_blocks(C, threads, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        nn::Sum8 s;
        for (std::int64_t n = 0; n < N; ++n) s.add(x.ptr() + (n * C + c) * HW, HW);
        mean[static_cast<std::size_t>(c)] = s.total() / static_cast<double>(M);
        double sum_max = 0, sum_min = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          // Chunk k holds channel positions [k L, (k+1) L); position e is element (e / HW, e % HW).
          float hi = -std::numeric_limits<float>::infinity(), lo = std::numeric_limits<float>::infinity();
          std::int64_t ihi = -1, ilo = -1;
          for (std::int64_t e = k * L; e < (k + 1) * L;) {
            const std::int64_t n = e / HW, i0 = e % HW, len = std::min(HW - i0, (k + 1) * L - e);
            const float* p = x.ptr() + (n * C + c) * HW + i0;
            for (std::int64_t i = 0; i < len; ++i) {
              if (p[i] > hi) {  // strict: the first maximum wins
                hi = p[i];
                ihi = e + i;
              }
              if (p[i] < lo) {
                lo = p[i];
                ilo = e + i;
              }
            }
            e += len;
          }
          if (ihi < 0 || ilo < 0)
            throw formats::QuantizeError(fmt::format("{}: Range BN input of channel {} is NaN in chunk {}", d.layer, c, k));
          arg_max_[static_cast<std::size_t>(c * K + k)] = ihi;
          arg_min_[static_cast<std::size_t>(c * K + k)] = ilo;
          sum_max += hi;
          sum_min += lo;
        }
        span_sum[static_cast<std::size_t>(c)] = (sum_max - sum_min) / static_cast<double>(K);
      }
    });
    const double w = new_weight_;
    for (std::int64_t c = 0; c < C; ++c) {
      const auto i = static_cast<std::size_t>(c);
      scale_[i] = 1.0 / (span_sum[i] * cn + d.spec.eps);
      if (!update_running) continue;
      d.running_mean.data[i] = static_cast<float>((1 - w) * d.running_mean.data[i] + w * mean[i]);
      d.running_second.data[i] = static_cast<float>((1 - w) * d.running_second.data[i] + w * scale_[i]);
    }
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(C); ++i) {
    mu[i] = static_cast<float>(mean[i]);
    r[i] = static_cast<float>(scale_[i]);
  }
}

void RangeBatchNorm::input_gradient(const BatchNormData& d, const BatchNormBackward& b, FTensor& dx) const {
  // Standard BN's dx without the x_hat term (the scale does not come from the variance), then the
  // range's share at the chunks' extremes: channels in order, then chunks in order, so an element
  // that is the extreme of its chunk gets one addition in float.
  nn::centered_input_gradient(d, b, false, dx);
  const Nchw& shape = b.dy.shape;
  const std::int64_t C = d.spec.channels, HW = shape.h * shape.w, M = shape.n * HW, K = chunks_;
  const double cn = range_bn_constant(M / K);
  for (std::int64_t c = 0; c < C; ++c) {
    const auto ci = static_cast<std::size_t>(c);
    const double r = b.r[ci];
    if (r == 0) continue;  // no scale, no gradient through it
    const double dscale = static_cast<double>(b.gamma[ci]) * b.sum_dy_xhat[ci] / r;
    const double share = -dscale * cn * scale_[ci] * scale_[ci] / static_cast<double>(K);
    for (std::int64_t k = 0; k < K; ++k) {
      const std::int64_t emax = arg_max_[static_cast<std::size_t>(c * K + k)], emin = arg_min_[static_cast<std::size_t>(c * K + k)];
      float& dmax = dx.data[static_cast<std::size_t>(((emax / HW) * C + c) * HW + emax % HW)];
      float& dmin = dx.data[static_cast<std::size_t>(((emin / HW) * C + c) * HW + emin % HW)];
      if (emax == emin) continue;  // a constant chunk: +share and -share cancel
      dmax = static_cast<float>(dmax + share);
      dmin = static_cast<float>(dmin - share);
    }
  }
}

}  // namespace bitsim::sim::methods
