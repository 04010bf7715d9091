#include "sim/nn/layers/simple_layers.hpp"

#include "sim/nn/layer_registry.hpp"

#include "sim/kernels/elementwise.hpp"
#include "sim/kernels/pool_kernels.hpp"
#include "sim/runtime/task_split.hpp"

#include <cmath>
#include <cstring>

namespace bitsim::sim::nn {

// ---- relu ----------------------------------------------------------------------------------------
void ReluLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  input_ = &x;
  out.reshape(x.shape);
  const float* xp = x.ptr();
  float* yp = out.ptr();
  detail::run_blocks(static_cast<std::int64_t>(x.data.size()), ctx.threads, [&](std::int64_t b, std::int64_t e) {
    // Local restrict copies: through the closure the compiler could not vectorize (it must assume the
    // stores alias the captured pointers).
    const float* __restrict in = xp;
    float* __restrict o = yp;
    for (std::int64_t i = b; i < e; ++i) o[i] = in[i] > 0.0f || in[i] != in[i] ? in[i] : 0.0f;  // NaN kept
  });
  round(ctx, Role::A, out);
}

void ReluLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  const FTensor& x = *input_;
  dx[0]->reshape(x.shape);
  const float* xp = x.ptr();
  const float* dp = dy.ptr();
  float* op = dx[0]->ptr();
  detail::run_blocks(static_cast<std::int64_t>(x.data.size()), ctx.threads, [&](std::int64_t b, std::int64_t e) {
    const float* __restrict in = xp;
    const float* __restrict g = dp;
    float* __restrict o = op;
    for (std::int64_t i = b; i < e; ++i) o[i] = in[i] != in[i] ? in[i] : in[i] > 0.0f ? g[i] : 0.0f;
  });
  round(ctx, Role::E, *dx[0]);
}

// ---- flatten -------------------------------------------------------------------------------------
void FlattenLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  in_shape_ = in[0]->shape;
  out.shape = output_shape(std::span<const Nchw>(&in_shape_, 1));
  out.data = in[0]->data;
  round(ctx, Role::A, out);
}

void FlattenLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  dx[0]->shape = in_shape_;
  dx[0]->data = dy.data;
  round(ctx, Role::E, *dx[0]);
}

// ---- add -----------------------------------------------------------------------------------------
Nchw AddLayer::output_shape(std::span<const Nchw> in) const {
  if (!(in[0] == in[1]))
    throw KernelShapeError(name + ": the two inputs have shapes " + in[0].to_string() + " and " + in[1].to_string());
  return in[0];
}

void AddLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor &a = *in[0], &b = *in[1];
  out.reshape(a.shape);
  const float* ap = a.ptr();
  const float* bp = b.ptr();
  float* op = out.ptr();
  detail::run_blocks(static_cast<std::int64_t>(a.data.size()), ctx.threads, [&](std::int64_t s, std::int64_t e) {
    const float* __restrict u = ap;
    const float* __restrict v = bp;
    float* __restrict o = op;
    for (std::int64_t i = s; i < e; ++i) o[i] = u[i] + v[i];
  });
  round(ctx, Role::A, out);
}

void AddLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  for (int i = 0; i < 2; ++i)
    if (dx[static_cast<std::size_t>(i)]) {
      *dx[static_cast<std::size_t>(i)] = dy;
      round(ctx, Role::E, *dx[static_cast<std::size_t>(i)], i);
    }
}

// ---- pooling -------------------------------------------------------------------------------------
namespace {
std::int64_t pooled(std::int64_t size, std::int64_t k, std::int64_t s, std::int64_t p) { return (size + 2 * p - k) / s + 1; }

void check_pool(const PoolSpec& s, const char* what) {
  if (s.global) return;
  if (s.kernel < 1 || s.stride < 1 || s.pad < 0 || s.pad >= s.kernel)
    throw KernelShapeError(std::string(what) + ": kernel and stride must be >= 1 and 0 <= pad < kernel");
}
}  // namespace

MaxPoolLayer::MaxPoolLayer(const PoolSpec& spec) : spec_(spec) { check_pool(spec, "maxpool"); }

Nchw MaxPoolLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& x = in[0];
  if (x.h + 2 * spec_.pad < spec_.kernel || x.w + 2 * spec_.pad < spec_.kernel)
    throw KernelShapeError(name + ": input " + x.to_string() + " is smaller than the window");
  return Nchw{x.n, x.c, pooled(x.h, spec_.kernel, spec_.stride, spec_.pad), pooled(x.w, spec_.kernel, spec_.stride, spec_.pad)};
}

void MaxPoolLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  in_shape_ = x.shape;
  const Nchw ys = output_shape(std::span<const Nchw>(&x.shape, 1));
  out.reshape(ys);
  argmax_.resize(static_cast<std::size_t>(ys.numel()));
  const std::int64_t H = x.shape.h, W = x.shape.w, OH = ys.h, OW = ys.w, k = spec_.kernel, s = spec_.stride, p = spec_.pad;
  const std::int64_t planes = ys.n * ys.c;
  if (k == 2 && s == 2 && p == 0) {
    // The common 2x2 window, branch-free: taps in (kh, kw) order; a later tap replaces the current
    // winner only when it is larger or a NaN and the winner is not a NaN (first of equals, first NaN).
    detail::run_blocks(planes, ctx.threads, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t pl = b0; pl < b1; ++pl) {
        const float* xp = x.ptr() + pl * H * W;
        for (std::int64_t oh = 0; oh < OH; ++oh) {
          const float* r0 = xp + 2 * oh * W;
          const float* r1 = r0 + W;
          float* yo = out.ptr() + (pl * OH + oh) * OW;
          std::int32_t* ao = argmax_.data() + (pl * OH + oh) * OW;
          const auto base = static_cast<std::int32_t>(2 * oh * W), w32 = static_cast<std::int32_t>(W);
          for (std::int64_t ow = 0; ow < OW; ++ow) {
            const float t[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
            const std::int32_t off[4] = {0, 1, w32, w32 + 1};
            float bv = t[0];
            std::int32_t bi = 0;
            for (int q = 1; q < 4; ++q) {
              const bool take = (bv == bv) & ((t[q] > bv) | (t[q] != t[q]));
              bv = take ? t[q] : bv;
              bi = take ? off[q] : bi;
            }
            yo[ow] = bv;
            ao[ow] = base + static_cast<std::int32_t>(2 * ow) + bi;
          }
        }
      }
    });
    round(ctx, Role::A, out);
    return;
  }
  detail::run_blocks(planes, ctx.threads, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t pl = b0; pl < b1; ++pl) {
      const float* xp = x.ptr() + pl * H * W;
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          std::int32_t best = -1;
          float bv = 0;
          for (std::int64_t kh = 0; kh < k; ++kh) {
            const std::int64_t ih = oh * s - p + kh;
            if (ih < 0 || ih >= H) continue;
            for (std::int64_t kw = 0; kw < k; ++kw) {
              const std::int64_t iw = ow * s - p + kw;
              if (iw < 0 || iw >= W) continue;
              const float v = xp[ih * W + iw];
              if (best >= 0 && std::isnan(bv)) continue;  // the first NaN wins
              if (best < 0 || std::isnan(v) || v > bv) {
                best = static_cast<std::int32_t>(ih * W + iw);
                bv = v;
              }
            }
          }
          const std::int64_t e = (pl * OH + oh) * OW + ow;
          out.data[static_cast<std::size_t>(e)] = bv;
          argmax_[static_cast<std::size_t>(e)] = best;
        }
    }
  });
  round(ctx, Role::A, out);
}

void MaxPoolLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  const Pool2dParams p{spec_.kernel, spec_.kernel, spec_.stride, spec_.stride, spec_.pad, spec_.pad};
  max_pool_backward(gemm, dy, argmax_, in_shape_, p, *dx[0], ctx.threads);
  round(ctx, Role::E, *dx[0]);
}

AvgPoolLayer::AvgPoolLayer(const PoolSpec& spec) : spec_(spec) { check_pool(spec, "avgpool"); }

AvgPoolLayer::Window AvgPoolLayer::window(const Nchw& x) const {
  if (spec_.global) return Window{x.h, x.w, 1, 0};
  return Window{spec_.kernel, spec_.kernel, spec_.stride, spec_.pad};
}

Nchw AvgPoolLayer::output_shape(std::span<const Nchw> in) const {
  const Nchw& x = in[0];
  const Window w = window(x);
  if (x.h + 2 * w.pad < w.kh || x.w + 2 * w.pad < w.kw)
    throw KernelShapeError(name + ": input " + x.to_string() + " is smaller than the window");
  return Nchw{x.n, x.c, pooled(x.h, w.kh, w.stride, w.pad), pooled(x.w, w.kw, w.stride, w.pad)};
}

void AvgPoolLayer::forward(const StepContext& ctx, std::span<const FTensor* const> in, FTensor& out) {
  const FTensor& x = *in[0];
  in_shape_ = x.shape;
  const Window wd = window(x.shape);
  (void)output_shape(std::span<const Nchw>(&x.shape, 1));  // checks the window fits
  avg_pool_forward(gemm, x, Pool2dParams{wd.kh, wd.kw, wd.stride, wd.stride, wd.pad, wd.pad}, spec_.global, out, ctx.threads);
  round(ctx, Role::A, out);
}

void AvgPoolLayer::backward(const StepContext& ctx, const FTensor& dy, std::span<FTensor* const> dx) {
  if (!dx[0]) return;
  const Window wd = window(in_shape_);
  avg_pool_backward(gemm, dy, in_shape_, Pool2dParams{wd.kh, wd.kw, wd.stride, wd.stride, wd.pad, wd.pad}, spec_.global, *dx[0],
                    ctx.threads);
  round(ctx, Role::E, *dx[0]);
}

std::unique_ptr<Layer> make_relu_layer(const LayerBuild&) { return std::make_unique<ReluLayer>(); }

std::unique_ptr<Layer> make_flatten_layer(const LayerBuild&) { return std::make_unique<FlattenLayer>(); }

namespace {
PoolSpec pool_spec(const LayerBuild& b, bool global) {
  PoolSpec p;
  p.global = global;
  p.kernel = b.spec.kernel.value_or(2);
  p.stride = b.spec.stride.value_or(p.kernel);
  p.pad = b.spec.pad.value_or(0);
  return p;
}
}  // namespace

std::unique_ptr<Layer> make_maxpool_layer(const LayerBuild& b) { return std::make_unique<MaxPoolLayer>(pool_spec(b, false)); }

std::unique_ptr<Layer> make_avgpool_layer(const LayerBuild& b) { return std::make_unique<AvgPoolLayer>(pool_spec(b, false)); }

std::unique_ptr<Layer> make_gap_layer(const LayerBuild& b) { return std::make_unique<AvgPoolLayer>(pool_spec(b, true)); }

}  // namespace bitsim::sim::nn
