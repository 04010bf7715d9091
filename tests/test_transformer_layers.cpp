// The transformer layers (sim/nn/layers/transformer_layers.hpp, attention_layer.hpp): an fp64 reference
// of each, written from the definitions, checked against central differences, and the engine's layers
// against it (layer_checks.hpp); the attention forward bit for bit against its documented fp32 formula;
// the ATT_S / ATT_P roles; independence of the thread count; model building and shape errors.
#include "sim/nn/layers/attention_layer.hpp"
#include "sim/nn/layers/transformer_layers.hpp"
#include "sim/nn/loss.hpp"
#include "sim/nn/model.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"

#include "layer_checks.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using namespace bitsim::sim::nn::testing;
using bitsim::formats::parse_format;
using bitsim::formats::RoundingSpec;

namespace {

// ---- the fp64 reference -----------------------------------------------------------------------------

// The statistics of position (n, h, w): the mean (0 for RMS norm) and r = 1 / sqrt(var + eps) (RMS norm:
// the mean square in place of the variance).
struct PositionStats {
  double mean = 0, r = 0;
};
PositionStats position_stats(const T4& x, std::int64_t n, std::int64_t h, std::int64_t w, bool rms, double eps) {
  const std::int64_t C = x.shape.c;
  double mean = 0, var = 0;
  if (!rms) {
    for (std::int64_t c = 0; c < C; ++c) mean += x(n, c, h, w);
    mean /= static_cast<double>(C);
  }
  for (std::int64_t c = 0; c < C; ++c) var += (x(n, c, h, w) - mean) * (x(n, c, h, w) - mean);
  var /= static_cast<double>(C);
  return PositionStats{mean, 1 / std::sqrt(var + eps)};
}

// Layer norm (rms = false) or RMS norm over the channels of each position.
T4 norm_fwd(const T4& x, const T4& gamma, const T4* beta, bool rms, double eps) {
  const Nchw s = x.shape;
  T4 y(s);
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t h = 0; h < s.h; ++h)
      for (std::int64_t w = 0; w < s.w; ++w) {
        const auto [mean, r] = position_stats(x, n, h, w, rms, eps);
        for (std::int64_t c = 0; c < s.c; ++c)
          y(n, c, h, w) = gamma(0, c, 0, 0) * (x(n, c, h, w) - mean) * r + (beta ? (*beta)(0, c, 0, 0) : 0.0);
      }
  return y;
}

// Its adjoint, derived by hand: dx = r (g - mean_c g - x_hat mean_c(g x_hat)), g = gamma dy (RMS norm:
// without the mean_c g term).
std::vector<T4> norm_bwd(const T4& x, const T4& gamma, bool rms, double eps, const T4& dy) {
  const Nchw s = x.shape;
  std::vector<T4> g = {T4(s), T4(gamma.shape)};
  if (!rms) g.emplace_back(gamma.shape);
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t h = 0; h < s.h; ++h)
      for (std::int64_t w = 0; w < s.w; ++w) {
        const auto [mean, r] = position_stats(x, n, h, w, rms, eps);
        double mg = 0, mgx = 0;
        for (std::int64_t c = 0; c < s.c; ++c) {
          const double xh = (x(n, c, h, w) - mean) * r, gc = gamma(0, c, 0, 0) * dy(n, c, h, w);
          mg += gc;
          mgx += gc * xh;
          g[1](0, c, 0, 0) += dy(n, c, h, w) * xh;
          if (!rms) g[2](0, c, 0, 0) += dy(n, c, h, w);
        }
        mg = rms ? 0 : mg / static_cast<double>(s.c);
        mgx /= static_cast<double>(s.c);
        for (std::int64_t c = 0; c < s.c; ++c) {
          const double xh = (x(n, c, h, w) - mean) * r;
          g[0](n, c, h, w) = r * (gamma(0, c, 0, 0) * dy(n, c, h, w) - mg - xh * mgx);
        }
      }
  return g;
}

double phi_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

// Attention: x [N, 3D, H, W] -> [N, D, H, W], per head softmax(Q K^T / sqrt d) V over the H*W positions.
struct AttentionRef {
  std::int64_t heads;
  T4 forward(const T4& x) const {
    const std::int64_t N = x.shape.n, D = x.shape.c / 3, d = D / heads, T = x.shape.h * x.shape.w;
    T4 y(Nchw{N, D, x.shape.h, x.shape.w});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t h = 0; h < heads; ++h) {
        const auto P = probabilities(x, n, h);
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t j = 0; j < d; ++j) {
            double o = 0;
            for (std::int64_t u = 0; u < T; ++u) o += P[static_cast<std::size_t>(t * T + u)] * at(x, n, 2 * D + h * d + j, u);
            y.data[static_cast<std::size_t>((n * D + h * d + j) * T + t)] = o;
          }
      }
    return y;
  }
  // The adjoint, from the chain rule through softmax: dS = P (dP - sum_u P dP).
  std::vector<T4> backward(const T4& x, const T4& dy) const {
    const std::int64_t N = x.shape.n, D = x.shape.c / 3, d = D / heads, T = x.shape.h * x.shape.w;
    T4 dx(x.shape);
    const double s = 1 / std::sqrt(static_cast<double>(d));
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t h = 0; h < heads; ++h) {
        const auto P = probabilities(x, n, h);
        auto DY = [&](std::int64_t t, std::int64_t j) { return dy.data[static_cast<std::size_t>((n * D + h * d + j) * T + t)]; };
        auto DX = [&](std::int64_t c, std::int64_t t) -> double& { return dx.data[static_cast<std::size_t>((n * 3 * D + c) * T + t)]; };
        for (std::int64_t t = 0; t < T; ++t) {
          std::vector<double> dp(static_cast<std::size_t>(T));
          double r = 0;
          for (std::int64_t u = 0; u < T; ++u) {
            for (std::int64_t j = 0; j < d; ++j) dp[static_cast<std::size_t>(u)] += DY(t, j) * at(x, n, 2 * D + h * d + j, u);
            r += P[static_cast<std::size_t>(t * T + u)] * dp[static_cast<std::size_t>(u)];
          }
          for (std::int64_t u = 0; u < T; ++u) {
            const double p = P[static_cast<std::size_t>(t * T + u)];
            const double ds = p * (dp[static_cast<std::size_t>(u)] - r) * s;
            for (std::int64_t j = 0; j < d; ++j) {
              DX(2 * D + h * d + j, u) += p * DY(t, j);
              DX(h * d + j, t) += ds * at(x, n, D + h * d + j, u);
              DX(D + h * d + j, u) += ds * at(x, n, h * d + j, t);
            }
          }
        }
      }
    return {dx};
  }
  static double at(const T4& x, std::int64_t n, std::int64_t c, std::int64_t t) {
    const std::int64_t T = x.shape.h * x.shape.w;
    return x.data[static_cast<std::size_t>((n * x.shape.c + c) * T + t)];
  }
  std::vector<double> probabilities(const T4& x, std::int64_t n, std::int64_t h) const {
    const std::int64_t D = x.shape.c / 3, d = D / heads, T = x.shape.h * x.shape.w;
    std::vector<double> P(static_cast<std::size_t>(T * T));
    for (std::int64_t t = 0; t < T; ++t) {
      double m = -INFINITY, z = 0;
      for (std::int64_t u = 0; u < T; ++u) {
        double s = 0;
        for (std::int64_t j = 0; j < d; ++j) s += at(x, n, h * d + j, t) * at(x, n, D + h * d + j, u);
        P[static_cast<std::size_t>(t * T + u)] = s / std::sqrt(static_cast<double>(d));
        m = std::max(m, P[static_cast<std::size_t>(t * T + u)]);
      }
      for (std::int64_t u = 0; u < T; ++u) z += std::exp(P[static_cast<std::size_t>(t * T + u)] - m);
      for (std::int64_t u = 0; u < T; ++u) P[static_cast<std::size_t>(t * T + u)] = std::exp(P[static_cast<std::size_t>(t * T + u)] - m) / z;
    }
    return P;
  }
};

FTensor forward_of(Layer& layer, const FTensor& x, int threads = 1) {
  StepContext ctx;
  ctx.threads = threads;
  layer.round_weights(ctx);
  const FTensor* in[1] = {&x};
  FTensor y;
  layer.forward(ctx, in, y);
  return y;
}

}  // namespace

TEST_CASE("transformer: layer norm and RMS norm gradients (fp64 reference vs differences - engine vs reference)", "[nn][transformer]") {
  unsigned seed = 70;
  for (const bool rms : {false, true})
    for (const Nchw xs : {Nchw{2, 5, 3, 2}, Nchw{3, 8, 1, 1}, Nchw{1, 3, 2, 4}}) {
      std::mt19937 rng(seed);
      LayerNormLayer layer(NormSpec{xs.c, 1e-5, rms});
      layer.name = rms ? "rms" : "ln";
      std::vector<FTensor> t = {random_tensor(xs, rng, 2.0, 0.7), random_tensor(Nchw{1, xs.c, 1, 1}, rng, 0.5, 1.0)};
      if (!rms) t.push_back(random_tensor(Nchw{1, xs.c, 1, 1}, rng));
      RefOp op;
      op.fwd = [=](const std::vector<T4>& tt) { return norm_fwd(tt[0], tt[1], rms ? nullptr : &tt[2], rms, 1e-5); };
      op.bwd = [=](const std::vector<T4>& tt, const T4& dy) { return norm_bwd(tt[0], tt[1], rms, 1e-5, dy); };
      check_layer(std::string(rms ? "rmsnorm" : "layernorm") + " x " + xs.to_string(), layer, op, t, seed++);
    }
}

TEST_CASE("transformer: GELU and position embedding gradients (fp64 reference vs differences - engine vs reference)", "[nn][transformer]") {
  std::mt19937 rng(80);
  {
    GeluLayer layer;
    layer.name = "gelu";
    RefOp op;
    op.fwd = [](const std::vector<T4>& t) {
      T4 y(t[0].shape);
      for (std::size_t i = 0; i < y.data.size(); ++i) y.data[i] = t[0].data[i] * phi_cdf(t[0].data[i]);
      return y;
    };
    op.bwd = [](const std::vector<T4>& t, const T4& dy) {
      T4 dx(t[0].shape);
      for (std::size_t i = 0; i < dx.data.size(); ++i) {
        const double x = t[0].data[i];
        dx.data[i] = dy.data[i] * (phi_cdf(x) + x * std::exp(-x * x / 2) / std::sqrt(2 * std::numbers::pi));
      }
      return std::vector<T4>{dx};
    };
    check_layer("gelu", layer, op, {random_tensor(Nchw{2, 3, 4, 5}, rng, 2.0)}, 81);
  }
  {
    const Nchw xs{3, 4, 2, 3};
    PosEmbedLayer layer(Nchw{1, xs.c, xs.h, xs.w});
    layer.name = "pos";
    RefOp op;
    op.fwd = [](const std::vector<T4>& t) {
      T4 y(t[0].shape);
      const std::size_t F = t[1].data.size();
      for (std::size_t i = 0; i < y.data.size(); ++i) y.data[i] = t[0].data[i] + t[1].data[i % F];
      return y;
    };
    op.bwd = [](const std::vector<T4>& t, const T4& dy) {
      std::vector<T4> g = {dy, T4(t[1].shape)};
      const std::size_t F = t[1].data.size();
      for (std::size_t i = 0; i < dy.data.size(); ++i) g[1].data[i % F] += dy.data[i];
      return g;
    };
    check_layer("pos_embed", layer, op, {random_tensor(xs, rng), random_tensor(Nchw{1, xs.c, xs.h, xs.w}, rng)}, 82);
  }
}

TEST_CASE("transformer: attention gradients (fp64 reference vs differences - engine vs reference)", "[nn][transformer]") {
  struct C {
    Nchw x;
    std::int64_t heads;
  };
  unsigned seed = 90;
  for (const C& c : {C{{2, 12, 3, 2}, 2}, C{{1, 18, 2, 2}, 3}, C{{2, 9, 1, 5}, 1}}) {
    std::mt19937 rng(seed);
    AttentionLayer layer(c.heads);
    layer.name = "attn";
    const AttentionRef ref{c.heads};
    RefOp op;
    op.fwd = [=](const std::vector<T4>& t) { return ref.forward(t[0]); };
    op.bwd = [=](const std::vector<T4>& t, const T4& dy) { return ref.backward(t[0], dy); };
    check_layer("attention x " + c.x.to_string() + " heads " + std::to_string(c.heads), layer, op, {random_tensor(c.x, rng, 1.5)},
                seed++);
  }
}

TEST_CASE("transformer: attention forward equals its documented fp32 formula bit for bit", "[nn][transformer]") {
  // Default GemmSetup: every dot product is an fp32 chain of fused multiply-adds from +0 in k order
  // (exact products, one rounding per addition), which is what fmaf computes.
  const Nchw xs{2, 12, 2, 3};
  const std::int64_t heads = 2, D = 4, d = 2, T = 6;
  std::mt19937 rng(95);
  const FTensor x = random_tensor(xs, rng, 2.0);
  AttentionLayer layer(heads);
  layer.name = "attn";
  const FTensor y = forward_of(layer, x);
  auto X = [&](std::int64_t n, std::int64_t c, std::int64_t t) { return x.data[static_cast<std::size_t>((n * 3 * D + c) * T + t)]; };
  const float s = static_cast<float>(1 / std::sqrt(2.0));
  std::size_t mismatches = 0;
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t h = 0; h < heads; ++h) {
      float P[T][T];
      for (std::int64_t t = 0; t < T; ++t) {
        float S[T], m = -INFINITY, z = 0;
        for (std::int64_t u = 0; u < T; ++u) {
          float acc = 0;
          for (std::int64_t j = 0; j < d; ++j) acc = std::fmaf(X(n, h * d + j, t), X(n, D + h * d + j, u), acc);
          S[u] = acc * s;
          m = std::max(m, S[u]);
        }
        for (std::int64_t u = 0; u < T; ++u) {
          P[t][u] = static_cast<float>(std::exp(static_cast<double>(S[u] - m)));
          z = std::fmaf(P[t][u], 1.0f, z);
        }
        for (std::int64_t u = 0; u < T; ++u) P[t][u] = P[t][u] / z;
      }
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t j = 0; j < d; ++j) {
          float o = 0;
          for (std::int64_t u = 0; u < T; ++u) o = std::fmaf(P[t][u], X(n, 2 * D + h * d + j, u), o);
          mismatches += y.data[static_cast<std::size_t>((n * D + h * d + j) * T + t)] != o;
        }
    }
  CHECK(y.shape == (Nchw{2, 4, 2, 3}));
  CHECK(mismatches == 0);
}

TEST_CASE("transformer: ATT_S and ATT_P round the scores and probabilities", "[nn][transformer]") {
  const Nchw xs{2, 12, 2, 2};
  std::mt19937 rng(96);
  const FTensor x = random_tensor(xs, rng, 2.0);
  AttentionLayer plain(2), low(2);
  plain.name = low.name = "attn";
  const auto e4m3 = parse_format("fp8_e4m3");
  low.roles[Role::ATT_S] = RoleRounding(e4m3, RoundingSpec{});
  low.roles[Role::ATT_P] = RoleRounding(e4m3, RoundingSpec{});
  CHECK(low.uses_role(Role::ATT_S));
  CHECK(low.uses_role(Role::ATT_P));
  const FTensor y0 = forward_of(plain, x), y1 = forward_of(low, x);
  const bitsim::formats::Quantizer q(e4m3, RoundingSpec{});
  std::size_t off_grid = 0, changed = 0;
  for (const FTensor* t : {&low.scores(), &low.probabilities()}) {
    std::vector<float> again(t->data.size());
    q.quantize(t->data, again);  // rounding a value of the format again changes nothing
    for (std::size_t i = 0; i < again.size(); ++i) off_grid += again[i] != t->data[i];
  }
  for (std::size_t i = 0; i < plain.probabilities().data.size(); ++i)
    changed += plain.probabilities().data[i] != low.probabilities().data[i];
  CHECK(off_grid == 0);
  CHECK(changed > 0);
  CHECK(y0.data != y1.data);
  // Other layers never report these roles.
  GeluLayer gelu;
  CHECK_FALSE(gelu.uses_role(Role::ATT_S));
  CHECK_FALSE(gelu.uses_role(Role::ATT_P));
}

TEST_CASE("transformer: results do not depend on the thread count", "[nn][transformer]") {
  std::mt19937 rng(97);
  const FTensor x = random_tensor(Nchw{5, 24, 3, 3}, rng);
  const FTensor dy = random_tensor(Nchw{5, 8, 3, 3}, rng);
  const FTensor dyn = random_tensor(Nchw{5, 24, 3, 3}, rng);
  std::vector<float> first;
  for (const int threads : {1, 2, 3}) {
    INFO("threads " << threads);
    AttentionLayer attn(2);
    LayerNormLayer ln(NormSpec{24, 1e-5, false});
    attn.name = "attn";
    ln.name = "ln";
    ln.params()[0]->value = random_tensor(Nchw{1, 24, 1, 1}, rng, 0.0, 1.0);
    StepContext ctx;
    ctx.threads = threads;
    FTensor ya = forward_of(attn, x, threads), yl = forward_of(ln, x, threads), da, dl;
    FTensor* pa[1] = {&da};
    FTensor* pl[1] = {&dl};
    attn.backward(ctx, dy, pa);
    ln.backward(ctx, dyn, pl);
    std::vector<float> all;
    for (const FTensor* t : {&ya, &yl, &da, &dl, &ln.params()[0]->grad, &ln.params()[1]->grad})
      all.insert(all.end(), t->data.begin(), t->data.end());
    if (first.empty()) first = all;
    else CHECK(all == first);
  }
}

TEST_CASE("transformer: a small vision transformer builds, and bad shapes name the layer", "[nn][transformer]") {
  auto conv = [](std::int64_t out, std::int64_t k) {
    LayerSpec l;
    l.type = "conv";
    l.out = out;
    l.kernel = k;
    l.stride = k;
    l.bias = true;
    return l;
  };
  auto plain = [](const char* type) {
    LayerSpec l;
    l.type = type;
    return l;
  };
  LayerSpec attn = plain("attention");
  attn.heads = 2;
  LayerSpec block = plain("residual");
  block.body = {plain("layernorm"), conv(24, 1), attn, conv(8, 1)};
  LayerSpec mlp = plain("residual");
  mlp.body = {plain("rmsnorm"), conv(16, 1), plain("gelu"), conv(8, 1)};
  LayerSpec fc = plain("linear");
  fc.out = 3;
  ModelSpec spec{"vit", {conv(8, 2), plain("pos_embed"), block, mlp, plain("layernorm"), plain("gap"), fc}};
  Model model = build_model(spec, Nchw{1, 1, 4, 4}, [](Layer&) {});
  initialize(model, 3);
  std::vector<std::string> names;
  for (auto& [name, p] : model.parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "pos1.embedding", "block1.ln1.gamma", "block1.ln1.beta",
                                          "block1.conv1.weight", "block1.conv1.bias", "block1.conv2.weight", "block1.conv2.bias",
                                          "block2.rms1.gamma", "block2.conv1.weight", "block2.conv1.bias", "block2.conv2.weight",
                                          "block2.conv2.bias", "ln1.gamma", "ln1.beta", "fc1.weight", "fc1.bias"});
  std::mt19937 rng(98);
  const FTensor x = random_tensor(Nchw{2, 1, 4, 4}, rng);
  CHECK(model.forward(StepContext{}, x).shape == (Nchw{2, 3, 1, 1}));
  // The loss goes down under plain gradient steps (every layer's backward is wired).
  const std::vector<std::int32_t> labels = {0, 2};
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    StepContext ctx;
    const FTensor& z = model.forward(ctx, x);
    FTensor dz;
    const double loss = softmax_cross_entropy(z, labels, &dz).loss;
    (step == 0 ? first : last) = loss;
    model.backward(ctx, dz);
    for (auto& [name, p] : model.parameters())
      for (std::size_t i = 0; i < p->value.data.size(); ++i) p->value.data[i] -= 0.05f * p->grad.data[i];
  }
  CHECK(last < 0.5 * first);

  LayerSpec bad = plain("attention");
  bad.heads = 3;
  ModelSpec wrong{"vit", {conv(12, 2), bad}};  // D = 4 is not a multiple of 3 heads
  REQUIRE_THROWS_WITH(build_model(wrong, Nchw{1, 1, 4, 4}, [](Layer&) {}), Catch::Contains("attn1") && Catch::Contains("heads = 3"));
}

TEST_CASE("transformer: init_gain sets the weights' initial variance in place of the layer's own", "[nn][transformer]") {
  auto variance_of = [](std::optional<double> gain) {
    LayerSpec conv;
    conv.type = "conv";
    conv.out = 64;
    conv.kernel = 1;
    conv.init_gain = gain;
    Model model = build_model(ModelSpec{"custom", {conv}}, Nchw{1, 128, 4, 4}, [](Layer&) {});
    initialize(model, 5);
    const FTensor& w = model.parameters().front().second->value;
    double s = 0;
    for (const float v : w.data) s += static_cast<double>(v) * v;
    return s / static_cast<double>(w.data.size()) * 128;  // times fan_in
  };
  // 8192 normal samples: the variance estimate is within 5% with overwhelming probability.
  CHECK(variance_of(std::nullopt) == Approx(2.0).epsilon(0.05));  // He, a conv's default
  CHECK(variance_of(0.25) == Approx(0.25).epsilon(0.05));
}
