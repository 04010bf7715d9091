#include "sim/kernels/pool_kernels.hpp"

#include "sim/runtime/task_split.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bitsim::sim::nn {

namespace {

// A window with one stride and one padding for both axes: what the engine's loops take.
struct Window {
  std::int64_t kh, kw, stride, pad;
};

bool engine_takes(const GemmSetup& g, const Pool2dParams& p) {
  return g.is_fast() && p.stride_h == p.stride_w && p.pad_h == p.pad_w;
}

}  // namespace

void max_pool_backward(const GemmSetup& gemm, const FTensor& dy, std::span<const std::int32_t> argmax, const Nchw& x_shape,
                       const Pool2dParams& p, FTensor& g, int threads) {
  const bool overlapping = p.stride_h < p.kernel_h || p.stride_w < p.kernel_w;
  if (!gemm.is_fast() && overlapping) {
    // Overlapping windows sum several terms: the reference kernel under the layer's setup.
    const std::int64_t HW = x_shape.h * x_shape.w, OHW = dy.shape.h * dy.shape.w;
    std::vector<std::int64_t> flat(argmax.size());
    for (std::size_t e = 0; e < flat.size(); ++e) flat[e] = static_cast<std::int64_t>(e) / OHW * HW + argmax[e];
    assign_from(max_pool2d_backward(gemm.config(), to_nchw_array(dy), flat, x_shape, p, threads), g);
    return;
  }
  g.reshape(x_shape);
  std::fill(g.data.begin(), g.data.end(), 0.0f);
  const std::int64_t HW = x_shape.h * x_shape.w, OHW = dy.shape.h * dy.shape.w;
  const std::int64_t planes = dy.shape.n * dy.shape.c;
  detail::run_blocks(planes, threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t pl = b0; pl < b1; ++pl)
      for (std::int64_t e = 0; e < OHW; ++e) {
        const std::size_t o = static_cast<std::size_t>(pl * OHW + e);
        g.data[static_cast<std::size_t>(pl * HW + argmax[o])] += dy.data[o];
      }
  });
}

void avg_pool_forward(const GemmSetup& gemm, const FTensor& x, const Pool2dParams& p, bool global, FTensor& out, int threads) {
  if (!engine_takes(gemm, p)) {
    assign_from(global ? global_avg_pool_forward(gemm.config(), to_nchw_array(x), threads)
                       : avg_pool2d_forward(gemm.config(), to_nchw_array(x), p, threads),
                out);
    return;
  }
  const Window wd{p.kernel_h, p.kernel_w, p.stride_h, p.pad_h};
  const Nchw ys = pool2d_output_shape(x.shape, p);
  out.reshape(ys);
  const float wt = static_cast<float>(1.0 / static_cast<double>(wd.kh * wd.kw));
  const std::int64_t H = x.shape.h, W = x.shape.w, OH = ys.h, OW = ys.w;
  detail::run_blocks(ys.n * ys.c, threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t pl = b0; pl < b1; ++pl) {
      const float* xp = x.ptr() + pl * H * W;
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          float s = 0.0f;
          for (std::int64_t kh = 0; kh < wd.kh; ++kh)
            for (std::int64_t kw = 0; kw < wd.kw; ++kw) {
              const std::int64_t ih = oh * wd.stride - wd.pad + kh, iw = ow * wd.stride - wd.pad + kw;
              const float v = ih >= 0 && ih < H && iw >= 0 && iw < W ? xp[ih * W + iw] : 0.0f;
              s = std::fma(v, wt, s);
            }
          out.data[static_cast<std::size_t>((pl * OH + oh) * OW + ow)] = s;
        }
    }
  });
}

void avg_pool_backward(const GemmSetup& gemm, const FTensor& dy, const Nchw& x_shape, const Pool2dParams& p, bool global, FTensor& g,
                       int threads) {
  if (!engine_takes(gemm, p)) {
    assign_from(global ? global_avg_pool_backward(gemm.config(), to_nchw_array(dy), x_shape, threads)
                       : avg_pool2d_backward(gemm.config(), to_nchw_array(dy), x_shape, p, threads),
                g);
    return;
  }
  const Window wd{p.kernel_h, p.kernel_w, p.stride_h, p.pad_h};
  g.reshape(x_shape);
  std::fill(g.data.begin(), g.data.end(), 0.0f);
  const float wt = static_cast<float>(1.0 / static_cast<double>(wd.kh * wd.kw));
  const std::int64_t H = x_shape.h, W = x_shape.w, OH = dy.shape.h, OW = dy.shape.w;
  detail::run_blocks(dy.shape.n * dy.shape.c, threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t pl = b0; pl < b1; ++pl) {
      float* gp = g.ptr() + pl * H * W;
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const float d = dy.data[static_cast<std::size_t>((pl * OH + oh) * OW + ow)];
          for (std::int64_t kh = 0; kh < wd.kh; ++kh)
            for (std::int64_t kw = 0; kw < wd.kw; ++kw) {
              const std::int64_t ih = oh * wd.stride - wd.pad + kh, iw = ow * wd.stride - wd.pad + kw;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) gp[ih * W + iw] = std::fma(d, wt, gp[ih * W + iw]);
            }
        }
    }
  });
}

}  // namespace bitsim::sim::nn
