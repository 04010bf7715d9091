// Training-engine gradients and models (sim/nn/): a plain-loop fp64 reference of every layer (forward and
// analytic backward), itself checked against central differences; the engine's fp32 layers against it;
// a small residual network built from a ModelSpec, its gradients against finite differences of the
// engine's own loss and against the fp64 reference of the same network; model building (built-in
// models, names, parameter counts, errors); a training smoke test on synthetic data; the SGD update and
// the learning-rate schedules against hand computations.
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layers/conv_layer.hpp"
#include "sim/nn/layers/linear_layer.hpp"
#include "sim/nn/loss.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/nn/optimizer.hpp"
#include "sim/nn/layers/simple_layers.hpp"

#include "layer_checks.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using namespace bitsim::sim::nn::testing;
using bitsim::formats::parse_format;
using bitsim::formats::Rounding;
using bitsim::formats::RoundingSpec;

namespace {

// ---- the fp64 reference: plain loops, written from the definitions -------------------------------

std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) { return (in + 2 * p - k) / s + 1; }

// y[n][co][oh][ow] = bias[co] + sum_{ci,kh,kw} x[n][ci][oh*s-p+kh][ow*s-p+kw] w[co][ci][kh][kw] (zero padding)
T4 conv_fwd(const T4& x, const T4& w, const T4* bias, std::int64_t s, std::int64_t p) {
  const Nchw xs = x.shape, ws = w.shape;
  T4 y(Nchw{xs.n, ws.n, out_size(xs.h, ws.h, s, p), out_size(xs.w, ws.w, s, p)});
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t co = 0; co < ws.n; ++co)
      for (std::int64_t oh = 0; oh < y.shape.h; ++oh)
        for (std::int64_t ow = 0; ow < y.shape.w; ++ow) {
          double acc = bias ? (*bias)(0, co, 0, 0) : 0.0;
          for (std::int64_t ci = 0; ci < xs.c; ++ci)
            for (std::int64_t kh = 0; kh < ws.h; ++kh)
              for (std::int64_t kw = 0; kw < ws.w; ++kw) {
                const std::int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih >= 0 && ih < xs.h && iw >= 0 && iw < xs.w) acc += x(n, ci, ih, iw) * w(co, ci, kh, kw);
              }
          y(n, co, oh, ow) = acc;
        }
  return y;
}

// The adjoint of conv_fwd, scattering each dy element to the taps it came from.
void conv_bwd(const T4& x, const T4& w, std::int64_t s, std::int64_t p, const T4& dy, T4& dx, T4& dw, T4* db) {
  const Nchw xs = x.shape, ws = w.shape;
  dx = T4(xs);
  dw = T4(ws);
  if (db) *db = T4(Nchw{1, ws.n, 1, 1});
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t co = 0; co < ws.n; ++co)
      for (std::int64_t oh = 0; oh < dy.shape.h; ++oh)
        for (std::int64_t ow = 0; ow < dy.shape.w; ++ow) {
          const double g = dy(n, co, oh, ow);
          if (db) (*db)(0, co, 0, 0) += g;
          for (std::int64_t ci = 0; ci < xs.c; ++ci)
            for (std::int64_t kh = 0; kh < ws.h; ++kh)
              for (std::int64_t kw = 0; kw < ws.w; ++kw) {
                const std::int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih < 0 || ih >= xs.h || iw < 0 || iw >= xs.w) continue;
                dx(n, ci, ih, iw) += g * w(co, ci, kh, kw);
                dw(co, ci, kh, kw) += g * x(n, ci, ih, iw);
              }
        }
}

// y[n][o] = bias[o] + sum_f x[n][f] w[o][f], x flattened to F = C*H*W features; w is [O, F, 1, 1].
T4 linear_fwd(const T4& x, const T4& w, const T4* bias) {
  const std::int64_t N = x.shape.n, F = x.shape.c * x.shape.h * x.shape.w, O = w.shape.n;
  T4 y(Nchw{N, O, 1, 1});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o) {
      double acc = bias ? bias->data[static_cast<std::size_t>(o)] : 0.0;
      for (std::int64_t f = 0; f < F; ++f) acc += x.data[static_cast<std::size_t>(n * F + f)] * w.data[static_cast<std::size_t>(o * F + f)];
      y.data[static_cast<std::size_t>(n * O + o)] = acc;
    }
  return y;
}

void linear_bwd(const T4& x, const T4& w, const T4& dy, T4& dx, T4& dw, T4* db) {
  const std::int64_t N = x.shape.n, F = x.shape.c * x.shape.h * x.shape.w, O = w.shape.n;
  dx = T4(x.shape);
  dw = T4(w.shape);
  if (db) *db = T4(Nchw{1, O, 1, 1});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < O; ++o) {
      const double g = dy.data[static_cast<std::size_t>(n * O + o)];
      if (db) db->data[static_cast<std::size_t>(o)] += g;
      for (std::int64_t f = 0; f < F; ++f) {
        dx.data[static_cast<std::size_t>(n * F + f)] += g * w.data[static_cast<std::size_t>(o * F + f)];
        dw.data[static_cast<std::size_t>(o * F + f)] += g * x.data[static_cast<std::size_t>(n * F + f)];
      }
    }
}

// Batch normalization in training mode: per channel over N*H*W values, biased variance.
T4 bn_fwd(const T4& x, const T4& gamma, const T4& beta, double eps) {
  const Nchw s = x.shape;
  const double M = static_cast<double>(s.n * s.h * s.w);
  T4 y(s);
  for (std::int64_t c = 0; c < s.c; ++c) {
    double mean = 0, var = 0;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t h = 0; h < s.h; ++h)
        for (std::int64_t w = 0; w < s.w; ++w) mean += x(n, c, h, w);
    mean /= M;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t h = 0; h < s.h; ++h)
        for (std::int64_t w = 0; w < s.w; ++w) var += (x(n, c, h, w) - mean) * (x(n, c, h, w) - mean);
    var /= M;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t h = 0; h < s.h; ++h)
        for (std::int64_t w = 0; w < s.w; ++w)
          y(n, c, h, w) = gamma(0, c, 0, 0) * (x(n, c, h, w) - mean) / std::sqrt(var + eps) + beta(0, c, 0, 0);
  }
  return y;
}

// The chain rule through mean and variance, term by term (Ioffe & Szegedy 2015, section 3), not the
// engine's condensed formula.
void bn_bwd(const T4& x, const T4& gamma, double eps, const T4& dy, T4& dx, T4& dgamma, T4& dbeta) {
  const Nchw s = x.shape;
  const double M = static_cast<double>(s.n * s.h * s.w);
  dx = T4(s);
  dgamma = T4(Nchw{1, s.c, 1, 1});
  dbeta = T4(Nchw{1, s.c, 1, 1});
  for (std::int64_t c = 0; c < s.c; ++c) {
    double mean = 0, var = 0;
    auto each = [&](auto f) {
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t h = 0; h < s.h; ++h)
          for (std::int64_t w = 0; w < s.w; ++w) f(n, h, w);
    };
    each([&](auto n, auto h, auto w) { mean += x(n, c, h, w); });
    mean /= M;
    each([&](auto n, auto h, auto w) { var += (x(n, c, h, w) - mean) * (x(n, c, h, w) - mean); });
    var /= M;
    const double inv = 1.0 / std::sqrt(var + eps), g = gamma(0, c, 0, 0);
    double dvar = 0, dmean = 0, sum_centered = 0;
    each([&](auto n, auto h, auto w) {
      const double xhat = (x(n, c, h, w) - mean) * inv, d = dy(n, c, h, w);
      dgamma(0, c, 0, 0) += d * xhat;
      dbeta(0, c, 0, 0) += d;
      dvar += d * g * (x(n, c, h, w) - mean) * -0.5 * inv * inv * inv;
      dmean += -d * g * inv;
      sum_centered += x(n, c, h, w) - mean;
    });
    dmean += dvar * -2.0 * sum_centered / M;
    each([&](auto n, auto h, auto w) {
      dx(n, c, h, w) = dy(n, c, h, w) * g * inv + dvar * 2.0 * (x(n, c, h, w) - mean) / M + dmean / M;
    });
  }
}

T4 relu_fwd(const T4& x) {
  T4 y(x.shape);
  for (std::size_t i = 0; i < x.data.size(); ++i) y.data[i] = x.data[i] > 0 ? x.data[i] : 0.0;
  return y;
}
T4 relu_bwd(const T4& x, const T4& dy) {
  T4 dx(x.shape);
  for (std::size_t i = 0; i < x.data.size(); ++i) dx.data[i] = x.data[i] > 0 ? dy.data[i] : 0.0;
  return dx;
}

// Max pooling: the window's largest element (padding never wins); its gradient goes to that element.
void maxpool_impl(const T4& x, std::int64_t k, std::int64_t s, std::int64_t p, T4* y, const T4* dy, T4* dx) {
  const Nchw xs = x.shape;
  const std::int64_t OH = out_size(xs.h, k, s, p), OW = out_size(xs.w, k, s, p);
  if (y) *y = T4(Nchw{xs.n, xs.c, OH, OW});
  if (dx) *dx = T4(xs);
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t c = 0; c < xs.c; ++c)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          std::int64_t bh = -1, bw = -1;
          for (std::int64_t kh = 0; kh < k; ++kh)
            for (std::int64_t kw = 0; kw < k; ++kw) {
              const std::int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
              if (ih < 0 || ih >= xs.h || iw < 0 || iw >= xs.w) continue;
              if (bh < 0 || x(n, c, ih, iw) > x(n, c, bh, bw)) bh = ih, bw = iw;
            }
          if (y) (*y)(n, c, oh, ow) = x(n, c, bh, bw);
          if (dx) (*dx)(n, c, bh, bw) += (*dy)(n, c, oh, ow);
        }
}

// Average pooling: window sum / (k*k), padding counted as zeros in the divisor.
void avgpool_impl(const T4& x, std::int64_t kh_, std::int64_t kw_, std::int64_t s, std::int64_t p, T4* y, const T4* dy,
                  T4* dx) {
  const Nchw xs = x.shape;
  const std::int64_t OH = out_size(xs.h, kh_, s, p), OW = out_size(xs.w, kw_, s, p);
  const double inv = 1.0 / static_cast<double>(kh_ * kw_);
  if (y) *y = T4(Nchw{xs.n, xs.c, OH, OW});
  if (dx) *dx = T4(xs);
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t c = 0; c < xs.c; ++c)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow)
          for (std::int64_t kh = 0; kh < kh_; ++kh)
            for (std::int64_t kw = 0; kw < kw_; ++kw) {
              const std::int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
              if (ih < 0 || ih >= xs.h || iw < 0 || iw >= xs.w) continue;
              if (y) (*y)(n, c, oh, ow) += x(n, c, ih, iw) * inv;
              if (dx) (*dx)(n, c, ih, iw) += (*dy)(n, c, oh, ow) * inv;
            }
}

T4 add_fwd(const T4& a, const T4& b) {
  T4 y(a.shape);
  for (std::size_t i = 0; i < a.data.size(); ++i) y.data[i] = a.data[i] + b.data[i];
  return y;
}

// Mean softmax cross-entropy over the batch of logits [N, K, 1, 1] and its gradient.
double ce_loss(const T4& z, const std::vector<std::int32_t>& labels, T4* dz) {
  const std::int64_t N = z.shape.n, K = z.shape.c;
  double total = 0;
  if (dz) *dz = T4(z.shape);
  for (std::int64_t i = 0; i < N; ++i) {
    double m = z(i, 0, 0, 0), s = 0;
    for (std::int64_t j = 1; j < K; ++j) m = std::max(m, z(i, j, 0, 0));
    for (std::int64_t j = 0; j < K; ++j) s += std::exp(z(i, j, 0, 0) - m);
    const std::int64_t label = labels[static_cast<std::size_t>(i)];
    total += m + std::log(s) - z(i, label, 0, 0);
    if (dz)
      for (std::int64_t j = 0; j < K; ++j)
        (*dz)(i, j, 0, 0) = (std::exp(z(i, j, 0, 0) - m) / s - (j == label ? 1.0 : 0.0)) / static_cast<double>(N);
  }
  return total / static_cast<double>(N);
}

// ---- helpers -------------------------------------------------------------------------------------

// Values whose magnitudes are at least `gap` (away from ReLU's kink at 0).
FTensor away_from_zero(Nchw s, std::mt19937& rng, double gap) {
  FTensor t = random_tensor(s, rng);
  for (float& v : t.data) v = static_cast<float>(v >= 0 ? v + gap : v - gap);
  return t;
}

// Distinct values at least 0.01 apart in random order (no ties in any max-pooling window).
FTensor distinct_values(Nchw s, std::mt19937& rng) {
  FTensor t(s);
  std::vector<int> order(t.data.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::shuffle(order.begin(), order.end(), rng);
  const double half = static_cast<double>(order.size()) / 2;
  for (std::size_t i = 0; i < order.size(); ++i) t.data[i] = static_cast<float>((order[i] - half) * 0.0137);
  return t;
}

RefOp conv_op(std::int64_t s, std::int64_t p, bool bias) {
  RefOp op;
  op.fwd = [=](const std::vector<T4>& t) { return conv_fwd(t[0], t[1], bias ? &t[2] : nullptr, s, p); };
  op.bwd = [=](const std::vector<T4>& t, const T4& dy) {
    std::vector<T4> g(t.size());
    conv_bwd(t[0], t[1], s, p, dy, g[0], g[1], bias ? &g[2] : nullptr);
    return g;
  };
  return op;
}

}  // namespace

// ---- 3. gradients of every layer in fp64; the engine against them --------------------------------

TEST_CASE("nn: conv gradients (fp64 reference vs differences - engine vs reference)", "[nn]") {
  struct C {
    Nchw x;
    std::int64_t co, k, s, p;
    bool bias;
  };
  unsigned seed = 10;
  for (const C& c : {C{{2, 3, 5, 6}, 4, 3, 1, 1, true}, C{{3, 5, 7, 5}, 3, 3, 2, 0, false}, C{{2, 4, 4, 5}, 6, 1, 2, 1, true}}) {
    std::mt19937 rng(seed);
    ConvLayer layer(ConvSpec{c.x.c, c.co, c.k, c.k, c.s, c.p, c.bias});
    layer.name = "conv";
    std::vector<FTensor> t = {random_tensor(c.x, rng), random_tensor(Nchw{c.co, c.x.c, c.k, c.k}, rng, 0.5)};
    if (c.bias) t.push_back(random_tensor(Nchw{1, c.co, 1, 1}, rng));
    check_layer("conv x " + c.x.to_string() + " k " + std::to_string(c.k) + " s " + std::to_string(c.s) + " p " +
                    std::to_string(c.p),
                layer, conv_op(c.s, c.p, c.bias), t, seed++);
  }
}

TEST_CASE("nn: linear gradients (fp64 reference vs differences - engine vs reference)", "[nn]") {
  unsigned seed = 20;
  for (bool bias : {true, false})
    for (const Nchw xs : {Nchw{4, 7, 1, 1}, Nchw{3, 2, 3, 2}}) {
      std::mt19937 rng(seed);
      const std::int64_t F = xs.c * xs.h * xs.w, O = 5;
      LinearLayer layer(LinearSpec{F, O, bias});
      layer.name = "fc";
      std::vector<FTensor> t = {random_tensor(xs, rng), random_tensor(Nchw{O, F, 1, 1}, rng, 0.5)};
      if (bias) t.push_back(random_tensor(Nchw{1, O, 1, 1}, rng));
      RefOp op;
      op.fwd = [=](const std::vector<T4>& tt) { return linear_fwd(tt[0], tt[1], bias ? &tt[2] : nullptr); };
      op.bwd = [=](const std::vector<T4>& tt, const T4& dy) {
        std::vector<T4> g(tt.size());
        linear_bwd(tt[0], tt[1], dy, g[0], g[1], bias ? &g[2] : nullptr);
        return g;
      };
      check_layer("linear x " + xs.to_string() + (bias ? " bias" : ""), layer, op, t, seed++);
    }
}

TEST_CASE("nn: batchnorm gradients in training mode (fp64 reference vs differences - engine vs reference)", "[nn]") {
  unsigned seed = 30;
  for (const Nchw xs : {Nchw{4, 3, 3, 2}, Nchw{6, 5, 1, 1}, Nchw{2, 2, 4, 4}}) {
    std::mt19937 rng(seed);
    BatchNormLayer layer(BatchNormSpec{xs.c, 1e-5, 0.1});
    layer.name = "bn";
    const std::vector<FTensor> t = {random_tensor(xs, rng, 2.0, 0.7), random_tensor(Nchw{1, xs.c, 1, 1}, rng, 0.5, 1.0),
                                    random_tensor(Nchw{1, xs.c, 1, 1}, rng)};
    RefOp op;
    op.fwd = [](const std::vector<T4>& tt) { return bn_fwd(tt[0], tt[1], tt[2], 1e-5); };
    op.bwd = [](const std::vector<T4>& tt, const T4& dy) {
      std::vector<T4> g(3);
      bn_bwd(tt[0], tt[1], 1e-5, dy, g[0], g[1], g[2]);
      return g;
    };
    check_layer("batchnorm x " + xs.to_string(), layer, op, t, seed++);
    // The running statistics moved by momentum 0.1 from (0, 1) toward the batch mean and unbiased variance.
    const T4 x = to_t4(t[0]);
    const double M = static_cast<double>(xs.n * xs.h * xs.w);
    std::vector<FTensor*> buffers = layer.buffers();
    REQUIRE(buffers.size() == 2);
    for (std::int64_t c = 0; c < xs.c; ++c) {
      double mean = 0, var = 0;
      for (std::int64_t n = 0; n < xs.n; ++n)
        for (std::int64_t i = 0; i < xs.h * xs.w; ++i) mean += x.data[static_cast<std::size_t>((n * xs.c + c) * xs.h * xs.w + i)];
      mean /= M;
      for (std::int64_t n = 0; n < xs.n; ++n)
        for (std::int64_t i = 0; i < xs.h * xs.w; ++i) {
          const double d = x.data[static_cast<std::size_t>((n * xs.c + c) * xs.h * xs.w + i)] - mean;
          var += d * d;
        }
      var /= M - 1;
      CHECK(buffers[0]->data[static_cast<std::size_t>(c)] == Approx(0.1 * mean).margin(1e-6));
      CHECK(buffers[1]->data[static_cast<std::size_t>(c)] == Approx(0.9 + 0.1 * var).epsilon(1e-6));
    }
    // Inference normalizes with the running statistics: y = gamma (x - rm) / sqrt(rv + eps) + beta.
    StepContext infer;
    infer.training = false;
    const FTensor* in[1] = {&t[0]};
    FTensor y;
    layer.forward(infer, in, y);
    T4 want(xs);
    for (std::int64_t n = 0; n < xs.n; ++n)
      for (std::int64_t c = 0; c < xs.c; ++c)
        for (std::int64_t i = 0; i < xs.h * xs.w; ++i) {
          const auto e = static_cast<std::size_t>((n * xs.c + c) * xs.h * xs.w + i);
          const auto ci = static_cast<std::size_t>(c);
          want.data[e] = static_cast<double>(t[1].data[ci]) * (x.data[e] - buffers[0]->data[ci]) /
                             std::sqrt(static_cast<double>(buffers[1]->data[ci]) + 1e-5) +
                         static_cast<double>(t[2].data[ci]);
        }
    check_close(y, want, 1e-5, "inference forward with the running statistics");
  }
}

TEST_CASE("nn: relu, pooling and add gradients (fp64 reference vs differences - engine vs reference)", "[nn]") {
  std::mt19937 rng(40);
  {
    ReluLayer layer;
    layer.name = "relu";
    RefOp op;
    op.fwd = [](const std::vector<T4>& t) { return relu_fwd(t[0]); };
    op.bwd = [](const std::vector<T4>& t, const T4& dy) { return std::vector<T4>{relu_bwd(t[0], dy)}; };
    check_layer("relu", layer, op, {away_from_zero(Nchw{2, 3, 4, 5}, rng, 0.05)}, 41);
  }
  struct P {
    std::int64_t k, s, p;
  };
  for (const P& pc : {P{2, 2, 0}, P{3, 2, 1}, P{3, 1, 1}}) {
    const std::string sfx = " k " + std::to_string(pc.k) + " s " + std::to_string(pc.s) + " p " + std::to_string(pc.p);
    const PoolSpec spec{pc.k, pc.s, pc.p, false};
    {
      MaxPoolLayer layer(spec);
      layer.name = "maxpool";
      RefOp op;
      op.fwd = [=](const std::vector<T4>& t) {
        T4 y;
        maxpool_impl(t[0], pc.k, pc.s, pc.p, &y, nullptr, nullptr);
        return y;
      };
      op.bwd = [=](const std::vector<T4>& t, const T4& dy) {
        std::vector<T4> g(1);
        maxpool_impl(t[0], pc.k, pc.s, pc.p, nullptr, &dy, &g[0]);
        return g;
      };
      check_layer("maxpool" + sfx, layer, op, {distinct_values(Nchw{2, 3, 7, 6}, rng)}, 42);
    }
    {
      AvgPoolLayer layer(spec);
      layer.name = "avgpool";
      RefOp op;
      op.fwd = [=](const std::vector<T4>& t) {
        T4 y;
        avgpool_impl(t[0], pc.k, pc.k, pc.s, pc.p, &y, nullptr, nullptr);
        return y;
      };
      op.bwd = [=](const std::vector<T4>& t, const T4& dy) {
        std::vector<T4> g(1);
        avgpool_impl(t[0], pc.k, pc.k, pc.s, pc.p, nullptr, &dy, &g[0]);
        return g;
      };
      check_layer("avgpool" + sfx, layer, op, {random_tensor(Nchw{2, 3, 7, 6}, rng)}, 43);
    }
  }
  {
    AvgPoolLayer layer(PoolSpec{2, 2, 0, true});
    layer.name = "gap";
    RefOp op;
    op.fwd = [](const std::vector<T4>& t) {
      T4 y;
      avgpool_impl(t[0], t[0].shape.h, t[0].shape.w, 1, 0, &y, nullptr, nullptr);
      return y;
    };
    op.bwd = [](const std::vector<T4>& t, const T4& dy) {
      std::vector<T4> g(1);
      avgpool_impl(t[0], t[0].shape.h, t[0].shape.w, 1, 0, nullptr, &dy, &g[0]);
      return g;
    };
    check_layer("gap", layer, op, {random_tensor(Nchw{3, 4, 5, 7}, rng)}, 44);
  }
  {
    AddLayer layer;
    layer.name = "add";
    RefOp op;
    op.inputs = 2;
    op.fwd = [](const std::vector<T4>& t) { return add_fwd(t[0], t[1]); };
    op.bwd = [](const std::vector<T4>&, const T4& dy) { return std::vector<T4>{dy, dy}; };
    check_layer("add", layer, op, {random_tensor(Nchw{2, 3, 4, 4}, rng), random_tensor(Nchw{2, 3, 4, 4}, rng)}, 45);
  }
}

TEST_CASE("nn: softmax cross-entropy (fp64 reference vs differences - engine vs reference)", "[nn]") {
  std::mt19937 rng(50);
  const FTensor z = random_tensor(Nchw{5, 4, 1, 1}, rng, 2.0);
  const std::vector<std::int32_t> labels = {0, 3, 1, 1, 2};
  T4 zd = to_t4(z), dz;
  const double loss = ce_loss(zd, labels, &dz);
  std::vector<double> fd(zd.data.size());
  const double h = 1e-5;
  for (std::size_t i = 0; i < fd.size(); ++i) {
    const double v = zd.data[i];
    zd.data[i] = v + h;
    const double lp = ce_loss(zd, labels, nullptr);
    zd.data[i] = v - h;
    const double lm = ce_loss(zd, labels, nullptr);
    zd.data[i] = v;
    fd[i] = (lp - lm) / (2 * h);
  }
  check_close(dz.data, fd, 1e-6, "fp64 softmax cross-entropy gradient vs differences");
  FTensor g;
  const LossResult r = softmax_cross_entropy(z, labels, &g);
  CHECK(r.loss == Approx(loss).epsilon(1e-12));
  check_close(g, dz, 1e-6, "engine dL/dz vs fp64");
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < 5; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < 4; ++j)
      if (zd(i, j, 0, 0) > zd(i, best, 0, 0)) best = j;
    correct += best == labels[static_cast<std::size_t>(i)];
  }
  CHECK(r.correct == correct);
  const std::vector<std::int32_t> bad = {0, 4, 1, 1, 2};
  CHECK_THROWS_AS(softmax_cross_entropy(z, bad, &g), ModelError);
  CHECK_THROWS_AS(softmax_cross_entropy(z, std::vector<std::int32_t>{0, 1}, &g), ModelError);
}

// ---- 4. a whole network from a ModelSpec ---------------------------------------------------------

namespace {

LayerSpec spec_of(const char* type, std::optional<std::int64_t> out = {}) {
  LayerSpec s;
  s.type = type;
  s.out = out;
  return s;
}

// conv(4)-bn-relu-maxpool-residual{conv(4)-bn-relu-conv(4) | conv 1x1 or identity}-relu-gap-linear(3)
ModelSpec small_resnet_spec(bool projection) {
  ModelSpec m;
  m.name = "custom";
  LayerSpec block = spec_of("residual");
  block.body = {spec_of("conv", 4), spec_of("batchnorm"), spec_of("relu"), spec_of("conv", 4)};
  LayerSpec sc = spec_of("conv", 4);
  sc.kernel = 1;
  sc.stride = 1;
  if (projection) block.shortcut = {sc};
  m.layers = {spec_of("conv", 4), spec_of("batchnorm"), spec_of("relu"), spec_of("maxpool"), block,
              spec_of("relu"),    spec_of("gap"),       spec_of("linear", 3)};
  return m;
}

// The same network in fp64, parameters by the engine's names; returns the loss and fills the
// gradient of every parameter.
double small_resnet_ref(std::map<std::string, T4>& P, const T4& x, const std::vector<std::int32_t>& labels,
                        std::map<std::string, T4>& G) {
  const double eps = 1e-5;
  const T4 a1 = conv_fwd(x, P.at("conv1.weight"), nullptr, 1, 1);
  const T4 a2 = bn_fwd(a1, P.at("bn1.gamma"), P.at("bn1.beta"), eps);
  const T4 a3 = relu_fwd(a2);
  T4 a4;
  maxpool_impl(a3, 2, 2, 0, &a4, nullptr, nullptr);
  const T4 b1 = conv_fwd(a4, P.at("block1.conv1.weight"), nullptr, 1, 1);
  const T4 b2 = bn_fwd(b1, P.at("block1.bn1.gamma"), P.at("block1.bn1.beta"), eps);
  const T4 b3 = relu_fwd(b2);
  const T4 b4 = conv_fwd(b3, P.at("block1.conv2.weight"), nullptr, 1, 1);
  const bool projection = P.count("block1.conv3.weight") > 0;
  const T4 s1 = projection ? conv_fwd(a4, P.at("block1.conv3.weight"), nullptr, 1, 0) : a4;
  const T4 c1 = add_fwd(b4, s1);
  const T4 c2 = relu_fwd(c1);
  T4 c3;
  avgpool_impl(c2, c2.shape.h, c2.shape.w, 1, 0, &c3, nullptr, nullptr);
  const T4 z = linear_fwd(c3, P.at("fc1.weight"), &P.at("fc1.bias"));
  T4 dz;
  const double loss = ce_loss(z, labels, &dz);

  T4 dc3, dc2, da4a, da4b, db3, db2, db1, da3, da2, da1, dx;
  linear_bwd(c3, P.at("fc1.weight"), dz, dc3, G["fc1.weight"], &G["fc1.bias"]);
  avgpool_impl(c2, c2.shape.h, c2.shape.w, 1, 0, nullptr, &dc3, &dc2);
  const T4 dc1 = relu_bwd(c1, dc2);
  if (projection) conv_bwd(a4, P.at("block1.conv3.weight"), 1, 0, dc1, da4b, G["block1.conv3.weight"], nullptr);
  else da4b = dc1;
  conv_bwd(b3, P.at("block1.conv2.weight"), 1, 1, dc1, db3, G["block1.conv2.weight"], nullptr);
  db2 = relu_bwd(b2, db3);
  bn_bwd(b1, P.at("block1.bn1.gamma"), eps, db2, db1, G["block1.bn1.gamma"], G["block1.bn1.beta"]);
  conv_bwd(a4, P.at("block1.conv1.weight"), 1, 1, db1, da4a, G["block1.conv1.weight"], nullptr);
  const T4 da4 = add_fwd(da4a, da4b);
  maxpool_impl(a3, 2, 2, 0, nullptr, &da4, &da3);
  da2 = relu_bwd(a2, da3);
  bn_bwd(a1, P.at("bn1.gamma"), eps, da2, da1, G["bn1.gamma"], G["bn1.beta"]);
  conv_bwd(x, P.at("conv1.weight"), 1, 1, da1, dx, G["conv1.weight"], nullptr);
  return loss;
}

double engine_loss(Model& m, const FTensor& x, const std::vector<std::int32_t>& labels, bool with_backward) {
  StepContext ctx;
  m.round_weights(ctx);
  const FTensor& z = m.forward(ctx, x);
  FTensor dz;
  const LossResult r = softmax_cross_entropy(z, labels, with_backward ? &dz : nullptr);
  if (with_backward) {
    m.round_loss_gradient(ctx, dz);
    m.backward(ctx, dz);
  }
  return r.loss;
}

}  // namespace

TEST_CASE("nn: gradients of a small residual network (engine vs differences and vs fp64 reference)", "[nn]") {
  const bool projection = GENERATE(true, false);
  INFO((projection ? "1x1 conv shortcut" : "identity shortcut"));
  Model model = build_model(small_resnet_spec(projection), Nchw{1, 2, 8, 8}, [](Layer&) {});
  initialize(model, 11);
  // Random affine and bias parameters too (initialize sets gamma = 1, beta = bias = 0).
  std::mt19937 rng(60);
  std::normal_distribution<double> nd(0.0, 0.3);
  std::vector<std::string> names;
  for (auto& [name, p] : model.parameters()) {
    names.push_back(name);
    if (p->name != "weight")
      for (float& v : p->value.data) v = static_cast<float>((p->name == "gamma" ? 1.0 : 0.0) + nd(rng));
  }
  std::vector<std::string> want_names = {"conv1.weight",        "bn1.gamma",        "bn1.beta",
                                         "block1.conv1.weight", "block1.bn1.gamma", "block1.bn1.beta",
                                         "block1.conv2.weight", "block1.conv3.weight", "fc1.weight", "fc1.bias"};
  if (!projection) want_names.erase(want_names.begin() + 7);
  REQUIRE(names == want_names);
  const FTensor x = random_tensor(Nchw{4, 2, 8, 8}, rng);
  const std::vector<std::int32_t> labels = {0, 2, 1, 2};

  const double loss = engine_loss(model, x, labels, true);
  CHECK(model.forward(StepContext{}, x).shape == (Nchw{4, 3, 1, 1}));
  std::map<std::string, FTensor> engine_grad;
  std::map<std::string, T4> P, G;
  for (auto& [name, p] : model.parameters()) {
    engine_grad[name] = p->grad;
    P[name] = to_t4(p->value);
  }

  SECTION("against the fp64 reference of the same network") {
    const double ref_loss = small_resnet_ref(P, to_t4(x), labels, G);
    CHECK(loss == Approx(ref_loss).epsilon(1e-5));
    for (const auto& name : want_names) {
      INFO(name);
      check_close(engine_grad.at(name), G.at(name), 1e-4, "engine gradient vs fp64 network");
    }
  }

  SECTION("against central differences of the engine's loss") {
    // The engine computes in fp32: its loss carries rounding noise of about 1e-7 relative, so the step
    // must be large for that noise divided by 2h to stay well below the gradients compared: h = 3e-3
    // gives about 2e-5 absolute against entries of 1e-2 and more. Only entries of at least a fifth of
    // their tensor's largest gradient are compared (smaller ones drown in that noise), and with a
    // relative tolerance of 2e-2: the O(h^2) truncation error (batch norm makes the loss curved) and the
    // noise together reach about half a percent. The network is only piecewise smooth (ReLU, max pool):
    // an interval [w - h, w + h] holding a kink gives a difference quotient that is not the derivative
    // (perturbing one conv1 weight moves 256 pre-activations, so this happens for about one entry in
    // ten at h = 3e-3, one in four at 1e-2). Such entries are found with the fp64 reference, whose
    // difference quotient over the same interval then disagrees with its analytic gradient, and skipped.
    const float h = 3e-3f;
    const T4 xd = to_t4(x);
    std::map<std::string, T4> ref_grad, scratch;
    small_resnet_ref(P, xd, labels, ref_grad);
    std::int64_t compared = 0, skipped = 0;
    for (auto& [name, p] : model.parameters()) {
      INFO(name);
      const FTensor& g = engine_grad.at(name);
      T4& pref = P.at(name);
      double gmax = 0;
      for (float v : g.data) gmax = std::max(gmax, static_cast<double>(std::abs(v)));
      REQUIRE(gmax > 0);
      for (std::size_t i = 0; i < p->value.data.size(); ++i) {
        if (std::abs(g.data[i]) < 0.2 * gmax) continue;
        const float v = p->value.data[i];
        const float vp = v + h, vm = v - h;
        const double width = static_cast<double>(vp) - static_cast<double>(vm);
        pref.data[i] = vp;
        const double rp = small_resnet_ref(P, xd, labels, scratch);
        pref.data[i] = vm;
        const double rm = small_resnet_ref(P, xd, labels, scratch);
        pref.data[i] = v;
        const double want = ref_grad.at(name).data[i];
        if (std::abs((rp - rm) / width - want) > 5e-3 * std::abs(want)) {
          ++skipped;
          continue;
        }
        p->value.data[i] = vp;
        const double lp = engine_loss(model, x, labels, false);
        p->value.data[i] = vm;
        const double lm = engine_loss(model, x, labels, false);
        p->value.data[i] = v;
        const double fd = (lp - lm) / width;
        INFO("element " << i << ": engine " << g.data[i] << ", differences " << fd);
        CHECK(std::abs(fd - g.data[i]) <= 2e-2 * std::abs(g.data[i]));
        ++compared;
      }
    }
    INFO("compared " << compared << ", skipped (kink within h) " << skipped);
    CHECK(compared >= 40);
    CHECK(skipped <= compared / 4);
  }
}

// ---- 5. model plumbing ---------------------------------------------------------------------------

namespace {

std::vector<std::string> node_names(const Model& m) {
  std::vector<std::string> r;
  for (const auto& n : m.nodes()) r.push_back(n.layer->name);
  return r;
}

int node_index(const Model& m, const std::string& name) {
  for (std::size_t i = 0; i < m.nodes().size(); ++i)
    if (m.nodes()[i].layer->name == name) return static_cast<int>(i);
  return -2;
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

std::int64_t conv_params(std::int64_t in, std::int64_t out, std::int64_t k) { return in * out * k * k; }

// ResNet-20 (He et al. 2016, as model_zoo.hpp describes it) on `in_c` input channels: stem conv3x3 16
// (+ BN unless pre-activation), 3 stages x 3 blocks of widths 16, 32, 64 with stride 2 entering stages 2
// and 3, two 3x3 convs per block (+ BN each; pre-activation: BN before each conv instead, the block's
// first BN on its input), a 1x1 conv (+ BN unless pre-activation) projection where the shape changes,
// final BN for pre-activation, FC(64 -> classes) with bias. BN has gamma and beta.
std::int64_t resnet20_parameter_count(std::int64_t in_c, std::int64_t classes, bool preact) {
  std::int64_t count = conv_params(in_c, 16, 3) + (preact ? 0 : 2 * 16);
  std::int64_t in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    const std::int64_t w = 16 << stage;
    for (int b = 0; b < 3; ++b) {
      const bool project = (stage > 0 && b == 0) || in != w;
      count += conv_params(in, w, 3) + conv_params(w, w, 3) + 2 * w;  // two convs, the BN between them
      count += preact ? 2 * in : 2 * w;                                // pre-BN on the input, or the BN after conv 2
      if (project) count += conv_params(in, w, 1) + (preact ? 0 : 2 * w);
      in = w;
    }
  }
  if (preact) count += 2 * 64;
  return count + 64 * classes + classes;
}

std::string thrown_message(const ModelSpec& spec, const Nchw& input) {
  try {
    build_model(spec, input, [](Layer&) {});
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no ModelError)";
}

}  // namespace

TEST_CASE("nn: built-in models build on 1x28x28 and give [N, 10] logits", "[nn]") {
  CHECK(builtin_model_names() == std::vector<std::string>{"mlp", "cnn", "resnet20", "preact_resnet20"});
  std::mt19937 rng(70);
  const FTensor x = random_tensor(Nchw{2, 1, 28, 28}, rng);
  for (const std::string name : {"cnn", "mlp", "resnet20", "preact_resnet20"}) {
    INFO(name);
    Model m = build_model(builtin_model(name, 10), Nchw{1, 1, 28, 28}, [](Layer&) {});
    initialize(m, 1);
    CHECK(m.nodes().back().out_shape == (Nchw{1, 10, 1, 1}));
    StepContext ctx;
    m.round_weights(ctx);
    const FTensor& z = m.forward(ctx, x);
    CHECK(z.shape == (Nchw{2, 10, 1, 1}));
    bool finite = true;
    for (float v : z.data) finite = finite && std::isfinite(v);
    CHECK(finite);
    FTensor dz;
    softmax_cross_entropy(z, std::vector<std::int32_t>{3, 7}, &dz);
    m.round_loss_gradient(ctx, dz);
    m.backward(ctx, dz);
    for (auto& [pname, p] : m.parameters()) {
      INFO(pname);
      CHECK(p->grad.shape == p->value.shape);
    }
  }
  CHECK_THROWS_AS(builtin_model("resnet18", 10), ModelError);
}

TEST_CASE("nn: resnet20 structure: parameter count, layer names and graph", "[nn]") {
  Model m = build_model(builtin_model("resnet20", 10), Nchw{1, 1, 28, 28}, [](Layer&) {});
  // By hand: stem 144 + 32; stage 1: 3 x (2304 + 2304 + 64) = 14016; stage 2: 4608 + 9216 + 128 + 512 + 64
  // + 2 x (9216 + 9216 + 128) = 51648; stage 3: 18432 + 36864 + 256 + 2048 + 128 + 2 x (36864 + 36864 + 256)
  // = 205696; FC 650.
  CHECK(resnet20_parameter_count(1, 10, false) == 272186);
  CHECK(m.parameter_count() == resnet20_parameter_count(1, 10, false));
  Model pre = build_model(builtin_model("preact_resnet20", 10), Nchw{1, 1, 28, 28}, [](Layer&) {});
  CHECK(pre.parameter_count() == resnet20_parameter_count(1, 10, true));
  Model m3 = build_model(builtin_model("resnet20", 100), Nchw{1, 3, 32, 32}, [](Layer&) {});
  CHECK(m3.parameter_count() == resnet20_parameter_count(3, 100, false));

  const std::vector<std::string> names = node_names(m);
  for (const char* n : {"conv1", "bn1", "relu1", "block1.conv1", "block1.bn1", "block1.relu1", "block1.conv2", "block1.bn2",
                        "block1.add", "relu2", "block4.conv1", "block4.conv2", "block4.conv3", "block4.bn3", "block4.add",
                        "relu5", "block9.add", "relu10", "gap1", "fc1"})
    CHECK(has(names, n));
  CHECK_FALSE(has(names, "block1.conv3"));  // identity shortcut in stage 1
  CHECK_FALSE(has(names, "block10.add"));
  CHECK(names.back() == "fc1");
  std::int64_t adds = 0, convs = 0;
  for (const auto& n : m.nodes()) {
    adds += std::string(n.layer->kind()) == "add";
    convs += std::string(n.layer->kind()) == "conv";
  }
  CHECK(adds == 9);
  CHECK(convs == 21);
  const auto& add4 = m.nodes()[static_cast<std::size_t>(node_index(m, "block4.add"))];
  CHECK(add4.inputs == std::vector<int>{node_index(m, "block4.bn2"), node_index(m, "block4.bn3")});
  CHECK(add4.out_shape == (Nchw{1, 32, 14, 14}));
  const auto& add1 = m.nodes()[static_cast<std::size_t>(node_index(m, "block1.add"))];
  CHECK(add1.inputs == std::vector<int>{node_index(m, "block1.bn2"), node_index(m, "relu1")});
  CHECK(m.nodes()[static_cast<std::size_t>(node_index(m, "relu1"))].consumers == 2);
  CHECK(m.nodes()[static_cast<std::size_t>(node_index(m, "block4.conv3"))].inputs ==
        std::vector<int>{node_index(m, "relu4")});
  CHECK(m.nodes()[static_cast<std::size_t>(node_index(m, "block7.add"))].out_shape == (Nchw{1, 64, 7, 7}));
  bool found = false;
  for (auto& [name, p] : m.parameters()) found = found || name == "block4.conv2.weight";
  CHECK(found);

  // Pre-activation: the projection reads the pre-activated input (block4.relu1).
  const std::vector<std::string> pn = node_names(pre);
  for (const char* n : {"conv1", "block4.bn1", "block4.relu1", "block4.conv1", "block4.conv3", "block4.add", "bn1", "gap1", "fc1"})
    CHECK(has(pn, n));
  CHECK(pre.nodes()[static_cast<std::size_t>(node_index(pre, "block4.conv3"))].inputs ==
        std::vector<int>{node_index(pre, "block4.relu1")});
  CHECK(pre.nodes()[static_cast<std::size_t>(node_index(pre, "block2.add"))].inputs.back() ==
        node_index(pre, "block1.add"));

  Model mlp = build_model(builtin_model("mlp", 10, 32), Nchw{1, 1, 28, 28}, [](Layer&) {});
  CHECK(node_names(mlp) == std::vector<std::string>{"flatten1", "fc1", "bn1", "relu1", "fc2", "bn2", "relu2", "fc3"});
  CHECK(mlp.parameter_count() == 784 * 32 + 2 * 32 + 32 * 32 + 2 * 32 + 32 * 10 + 10);
}

TEST_CASE("nn: bad model descriptions throw ModelError naming the layer", "[nn]") {
  const Nchw input{1, 3, 8, 8};
  auto contains = [](const std::string& msg, const std::string& part) {
    INFO("message: " << msg);
    return msg.find(part) != std::string::npos;
  };
  {
    ModelSpec m;
    m.layers = {spec_of("conv", 4), spec_of("linear")};
    CHECK(contains(thrown_message(m, input), "fc1"));
  }
  {
    ModelSpec m;
    LayerSpec a = spec_of("conv", 4), b = spec_of("relu");
    a.name = "same";
    b.name = "same";
    m.layers = {a, b};
    CHECK(contains(thrown_message(m, input), "same"));
  }
  {
    ModelSpec m;  // the body changes the channel count, the identity shortcut does not
    LayerSpec block = spec_of("residual");
    block.body = {spec_of("conv", 8)};
    m.layers = {spec_of("conv", 4), block};
    CHECK(contains(thrown_message(m, input), "block1"));
  }
  {
    ModelSpec m;  // the body halves the size, the shortcut does not
    LayerSpec block = spec_of("residual");
    LayerSpec c = spec_of("conv", 3);
    c.stride = 2;
    block.body = {c};
    m.layers = {block};
    CHECK(contains(thrown_message(m, input), "block1"));
  }
  {
    ModelSpec m;  // a shape that does not fit: the pool's window is larger than its input
    LayerSpec p = spec_of("maxpool");
    p.kernel = 9;
    m.layers = {p};
    CHECK(contains(thrown_message(m, input), "pool1"));
  }
  {
    ModelSpec m;
    m.layers = {};
    CHECK_THROWS_AS(build_model(m, input, [](Layer&) {}), ModelError);
  }
  {
    ModelSpec m;
    m.layers = {spec_of("dense", 4)};
    CHECK(contains(thrown_message(m, input), "dense"));
  }
}

// model.hpp: "Throws ModelError naming the layer for a bad description (unknown type, ...)".
// Unknown types and keys the layer constructors reject (conv kernel 0, pool pad >= kernel) too.
TEST_CASE("nn: bad layer keys and unknown types name the layer", "[nn]") {
  const Nchw input{1, 3, 8, 8};
  {
    ModelSpec m;
    LayerSpec s = spec_of("dense", 4);
    s.name = "mystery";
    m.layers = {spec_of("conv", 4), s};
    const std::string msg = thrown_message(m, input);
    INFO(msg);
    CHECK(msg.find("mystery") != std::string::npos);
  }
  {
    ModelSpec m;
    LayerSpec s = spec_of("conv", 4);
    s.kernel = 0;
    m.layers = {spec_of("conv", 4), s};
    const std::string msg = thrown_message(m, input);
    INFO(msg);
    CHECK(msg.find("conv2") != std::string::npos);
  }
  {
    ModelSpec m;
    LayerSpec s = spec_of("maxpool");
    s.kernel = 2;
    s.pad = 2;
    m.layers = {s};
    const std::string msg = thrown_message(m, input);
    INFO(msg);
    CHECK(msg.find("pool1") != std::string::npos);
  }
}

// ---- 7. training smoke test ------------------------------------------------------------------------

namespace {

// 3 classes in 16 features: class c is prototype c plus noise of a third of its size.
void synthetic_data(std::int64_t n, FTensor& x, std::vector<std::int32_t>& labels) {
  std::mt19937 rng(80);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<std::vector<double>> proto(3, std::vector<double>(16));
  for (auto& p : proto)
    for (double& v : p) v = nd(rng);
  x = FTensor(Nchw{n, 1, 4, 4});
  labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int32_t>(i % 3);
    labels[static_cast<std::size_t>(i)] = c;
    for (std::int64_t f = 0; f < 16; ++f)
      x.data[static_cast<std::size_t>(i * 16 + f)] = static_cast<float>(proto[static_cast<std::size_t>(c)][static_cast<std::size_t>(f)] + 0.35 * nd(rng));
  }
}

// Losses before the first step and after each of `steps` SGD steps.
std::vector<double> train(const std::function<void(Layer&)>& configure, int steps) {
  ModelSpec spec;
  spec.name = "custom";
  LayerSpec hidden = spec_of("linear", 16);
  hidden.bias = false;
  spec.layers = {hidden, spec_of("batchnorm"), spec_of("relu"), spec_of("linear", 3)};
  Model m = build_model(spec, Nchw{1, 1, 4, 4}, configure);
  initialize(m, 3);
  FTensor x;
  std::vector<std::int32_t> labels;
  synthetic_data(48, x, labels);
  SgdConfig cfg;
  cfg.momentum = 0.9;
  cfg.weight_decay = 5e-4;
  std::vector<double> losses;
  for (int step = 0; step <= steps; ++step) {
    StepContext ctx;
    ctx.step = static_cast<std::uint64_t>(step);
    ctx.seed = 5;
    m.round_weights(ctx);
    const FTensor& z = m.forward(ctx, x);
    FTensor dz;
    losses.push_back(softmax_cross_entropy(z, labels, &dz).loss);
    if (step == steps) break;
    m.round_loss_gradient(ctx, dz);
    m.backward(ctx, dz);
    sgd_step(m, cfg, 0.05, ctx);
  }
  return losses;
}

}  // namespace

TEST_CASE("nn: SGD training on synthetic data reduces the loss (fp32 and fp8 W/A/E)", "[nn]") {
  const std::vector<double> fp32 = train([](Layer&) {}, 30);
  INFO("fp32 loss " << fp32.front() << " -> " << fp32.back());
  CHECK(fp32.front() > 0.5);
  CHECK(fp32.back() < 0.5 * fp32.front());
  const RoleRounding fp8(parse_format("fp8_e4m3"), RoundingSpec{});
  const std::vector<double> low = train(
      [&](Layer& l) {
        l.roles[Role::W] = fp8;
        l.roles[Role::A] = fp8;
        l.roles[Role::E] = fp8;
      },
      30);
  INFO("fp8 loss " << low.front() << " -> " << low.back());
  CHECK(low.back() < 0.5 * low.front());
  CHECK(low != fp32);  // the roles were applied
}

// ---- 8. optimizer and schedules ----------------------------------------------------------------------

namespace {

// fp32 operations written through double: a product or sum of two floats computed in double and
// rounded to float is the correctly rounded float result (53 >= 2*24 + 2), whatever the compiler does.
float fmul(float a, float b) { return static_cast<float>(static_cast<double>(a) * static_cast<double>(b)); }
float fadd(float a, float b) { return static_cast<float>(static_cast<double>(a) + static_cast<double>(b)); }
float fsub(float a, float b) { return static_cast<float>(static_cast<double>(a) - static_cast<double>(b)); }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

struct ParamState {
  std::vector<float> w, g, m;
};

}  // namespace

TEST_CASE("nn: sgd_step equals the documented update bit for bit", "[nn]") {
  ModelSpec spec;
  spec.layers = {spec_of("linear", 3)};
  const bitsim::formats::Quantizer q8(parse_format("fp8_e4m3"));
  auto q = [&](float v) {
    float out[1];
    const float in[1] = {v};
    q8.quantize(std::span<const float>(in, 1), std::span<float>(out, 1));
    return out[0];
  };
  struct Case {
    const char* what;
    double momentum, wd, lr;
    bool nesterov, decay_bias, master, fp8_roles;
  };
  const Case cases[] = {
      {"momentum 0.9, weight decay", 0.9, 5e-4, 0.05, false, true, true, false},
      {"nesterov", 0.9, 1e-3, 0.1, true, true, true, false},
      {"no decay on the bias", 0.85, 1e-2, 0.03, false, false, true, false},
      {"momentum 0", 0.0, 5e-4, 0.2, false, true, true, false},
      {"M, U roles fp8; weights stored in W (fp8)", 0.9, 5e-4, 0.05, true, true, false, true},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    Model m = build_model(spec, Nchw{1, 4, 1, 1}, [&](Layer& l) {
      if (c.fp8_roles)
        for (Role r : {Role::M, Role::U, Role::W}) l.roles[r] = RoleRounding(parse_format("fp8_e4m3"), RoundingSpec{});
    });
    auto params = m.parameters();
    REQUIRE(params.size() == 2);
    std::mt19937 rng(90);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<ParamState> state;
    for (auto& [name, p] : params) {
      p->grad = FTensor(p->value.shape);
      p->momentum = FTensor(p->value.shape);
      ParamState s;
      for (std::size_t i = 0; i < p->value.data.size(); ++i) {
        p->value.data[i] = static_cast<float>(nd(rng));
        p->momentum.data[i] = static_cast<float>(0.1 * nd(rng));
        if (c.fp8_roles) p->value.data[i] = q(p->value.data[i]);
      }
      s.w = p->value.data;
      s.m = p->momentum.data;
      state.push_back(s);
    }
    SgdConfig cfg;
    cfg.momentum = c.momentum;
    cfg.nesterov = c.nesterov;
    cfg.weight_decay = c.wd;
    cfg.decay_bn_and_bias = c.decay_bias;
    cfg.master_weights = c.master;
    const float mu = static_cast<float>(c.momentum), lr = static_cast<float>(c.lr);
    for (int step = 0; step < 2; ++step) {  // two steps: the momentum buffer carries over
      for (std::size_t k = 0; k < params.size(); ++k) {
        Param* p = params[k].second;
        ParamState& s = state[k];
        s.g.resize(s.w.size());
        for (std::size_t i = 0; i < s.w.size(); ++i) {
          s.g[i] = static_cast<float>(nd(rng));
          p->grad.data[i] = s.g[i];
        }
      }
      StepContext ctx;
      ctx.step = static_cast<std::uint64_t>(step);
      sgd_step(m, cfg, c.lr, ctx);
      for (std::size_t k = 0; k < params.size(); ++k) {
        INFO(params[k].first << ", step " << step);
        Param* p = params[k].second;
        ParamState& s = state[k];
        const float wd = (params[k].second->name == "weight" || c.decay_bias) ? static_cast<float>(c.wd) : 0.0f;
        std::size_t bad_w = 0, bad_m = 0;
        for (std::size_t i = 0; i < s.w.size(); ++i) {
          const float g = fadd(s.g[i], fmul(wd, s.w[i]));
          float mom = fadd(fmul(mu, s.m[i]), g);
          if (c.fp8_roles) mom = q(mom);
          const float d = c.nesterov ? fadd(g, fmul(mu, mom)) : mom;
          float u = fmul(lr, d);
          if (c.fp8_roles) u = q(u);
          float w = fsub(s.w[i], u);
          if (!c.master) w = q(w);
          bad_w += !same_bits(p->value.data[i], w);
          bad_m += !same_bits(p->momentum.data[i], mom);
          s.w[i] = w;
          s.m[i] = mom;
        }
        CHECK(bad_w == 0);
        CHECK(bad_m == 0);
        // keep the engine's state as the reference for the next step if they differ
        s.w = p->value.data;
        s.m = p->momentum.data;
      }
    }
  }
}

TEST_CASE("nn: learning-rate schedules", "[nn]") {
  ScheduleConfig s;
  s.lr = 0.1;
  SECTION("constant") {
    s.type = "constant";
    for (std::int64_t step : {0, 1, 57, 999}) CHECK(learning_rate(s, step, 10, 1000) == Approx(0.1).epsilon(1e-15));
  }
  SECTION("step") {
    s.type = "step";
    s.milestones = {2, 4};
    s.gamma = 0.1;
    // 10 steps per epoch: x0.1 from step 20, x0.01 from step 40.
    CHECK(learning_rate(s, 0, 10, 100) == Approx(0.1).epsilon(1e-15));
    CHECK(learning_rate(s, 19, 10, 100) == Approx(0.1).epsilon(1e-15));
    CHECK(learning_rate(s, 20, 10, 100) == Approx(0.01).epsilon(1e-12));
    CHECK(learning_rate(s, 39, 10, 100) == Approx(0.01).epsilon(1e-12));
    CHECK(learning_rate(s, 40, 10, 100) == Approx(0.001).epsilon(1e-12));
    CHECK(learning_rate(s, 99, 10, 100) == Approx(0.001).epsilon(1e-12));
  }
  SECTION("cosine") {
    s.type = "cosine";
    s.final_lr = 0.0;
    // lr(t) = 0.05 (1 + cos(pi t / 100)) over 100 steps.
    CHECK(learning_rate(s, 0, 10, 100) == Approx(0.1).epsilon(1e-15));
    CHECK(learning_rate(s, 25, 10, 100) == Approx(0.05 * (1 + std::sqrt(0.5))).epsilon(1e-12));
    CHECK(learning_rate(s, 50, 10, 100) == Approx(0.05).epsilon(1e-12));
    CHECK(learning_rate(s, 75, 10, 100) == Approx(0.05 * (1 - std::sqrt(0.5))).epsilon(1e-12));
    CHECK(learning_rate(s, 100, 10, 100) == Approx(0.0).margin(1e-15));
    s.final_lr = 0.02;
    CHECK(learning_rate(s, 50, 10, 100) == Approx(0.06).epsilon(1e-12));
    CHECK(learning_rate(s, 100, 10, 100) == Approx(0.02).epsilon(1e-12));
  }
  SECTION("linear warm-up, then cosine") {
    s.type = "cosine";
    s.warmup_epochs = 1;
    // 10 steps per epoch: lr/10, 2 lr/10, ..., lr over steps 0..9; then cosine over the remaining 100 steps.
    CHECK(learning_rate(s, 0, 10, 110) == Approx(0.01).epsilon(1e-12));
    CHECK(learning_rate(s, 4, 10, 110) == Approx(0.05).epsilon(1e-12));
    CHECK(learning_rate(s, 9, 10, 110) == Approx(0.1).epsilon(1e-12));
    CHECK(learning_rate(s, 10, 10, 110) == Approx(0.1).epsilon(1e-12));
    CHECK(learning_rate(s, 60, 10, 110) == Approx(0.05).epsilon(1e-12));
    CHECK(learning_rate(s, 110, 10, 110) == Approx(0.0).margin(1e-15));
  }
  SECTION("linear warm-up, then constant") {
    s.type = "constant";
    s.warmup_epochs = 0.5;
    // Half an epoch of 10 steps: 5 warm-up steps lr/5, 2 lr/5, ..., lr (steps 0..4), then constant.
    CHECK(learning_rate(s, 0, 10, 100) == Approx(0.02).epsilon(1e-12));
    CHECK(learning_rate(s, 2, 10, 100) == Approx(0.06).epsilon(1e-12));
    CHECK(learning_rate(s, 4, 10, 100) == Approx(0.1).epsilon(1e-12));
    CHECK(learning_rate(s, 5, 10, 100) == Approx(0.1).epsilon(1e-12));
  }
}

namespace {

// Keeps every rounding event of a step: "layer ROLE tensor" -> (before, after).
struct EventLog : RoundingObserver {
  std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> events;
  void on_rounding(const RoundingEvent& e) override {
    events[e.layer->name + " " + role_name(e.role) + " " + std::string(e.tensor)] = {
        std::vector<float>(e.before.begin(), e.before.end()), std::vector<float>(e.after.begin(), e.after.end())};
  }
};

}  // namespace

TEST_CASE("nn: observers see the rounding of dL/dlogits and of a gradient summed over several consumers", "[nn]") {
  // A ResNet: block inputs feed both the block and its shortcut, so their gradients are sums.
  const RoleRounding fp8(parse_format("fp8_e5m2"), RoundingSpec{});
  Model m = build_model(builtin_model("resnet20", 10, 4), Nchw{1, 1, 28, 28}, [&](Layer& l) { l.roles[Role::E] = fp8; });
  initialize(m, 1);
  FTensor x(Nchw{2, 1, 28, 28});
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : x.data) v = nd(rng);
  EventLog log;
  StepContext ctx;
  ctx.seed = 3;
  ctx.observer = &log;
  m.round_weights(ctx);
  const FTensor& z = m.forward(ctx, x);
  FTensor dz;
  softmax_cross_entropy(z, std::vector<std::int32_t>{1, 8}, &dz);
  const FTensor unrounded = dz;
  m.round_loss_gradient(ctx, dz);
  m.backward(ctx, dz);

  // dL/dlogits: reported as the last layer's E with tensor "loss", before and after as computed.
  const std::string loss_site = m.nodes().back().layer->name + " E loss";
  REQUIRE(log.events.count(loss_site) == 1);
  CHECK(log.events[loss_site].first == unrounded.data);
  std::vector<float> want = unrounded.data;
  fp8.apply(want, site_seed(3, 0, site_id(static_cast<std::int64_t>(m.nodes().size()), Role::E, 0)), "t");
  CHECK(log.events[loss_site].second == want);
  // Every layer whose output feeds two layers reports its summed gradient.
  int sums = 0;
  for (const auto& n : m.nodes()) {
    if (n.consumers < 2) continue;
    INFO(n.layer->name);
    CHECK(log.events.count(n.layer->name + " E sum") == 1);
    ++sums;
  }
  CHECK(sums >= 3);
  for (const auto& [site, values] : log.events)
    if (site.ends_with(" E sum")) CHECK(values.second != values.first);  // fp8: the sum was rounded
}
