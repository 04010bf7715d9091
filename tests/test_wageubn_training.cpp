// WAGEUBN (Yang et al. 2019) in the training engine: the quantized batch norm (forward against its
// definition, backward against fp64 finite differences), the quantized optimizer (learning rate, the
// weight decay inside G, the stored 24-bit weights), the config keys and their errors, the
// representability walk (one training step of the full 8-bit scheme, every tensor that is stored or
// multiplied checked to be an integer of its configured width), and a smoke run that lowers the loss.
// The quantizers themselves are tested in test_wageubn_quantizers.cpp.
#include "sim/methods/wageubn2019/gradient_range.hpp"
#include "sim/methods/wageubn2019/wageubn_batchnorm.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layers/conv_layer.hpp"
#include "sim/nn/layers/linear_layer.hpp"
#include "sim/nn/loss.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/nn/optimizer.hpp"
#include "sim/methods/wageubn2019/wage_rounding.hpp"
#include "sim/methods/wageubn2019/wageubn_quantizer.hpp"
#include "sim/train/config.hpp"
#include "sim/train/trainer.hpp"

#include "error_of.hpp"
#include "train_checks.hpp"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using namespace bitsim::sim::methods;
using bitsim::sim::methods::gscale_at;
using bitsim::sim::methods::set_gradient_range;
namespace fs = std::filesystem;
using bitsim::test::error_of;

namespace {

void run_forward(Layer& l, const StepContext& ctx, const FTensor& x, FTensor& y) {
  const FTensor* in[1] = {&x};
  l.forward(ctx, std::span<const FTensor* const>(in, 1), y);
}

// Q(x, k) of the paper, by hand in double: round half to even on the 2^(1-k) grid.
double q_direct(double x, int k) { return std::nearbyint(std::ldexp(x, k - 1)) * std::ldexp(1.0, 1 - k); }

// WAGEUBN BN's forward in double for given rounding widths (0: no rounding), with its eps added after
// rounding sigma. Channel statistics are biased, over N*H*W.
std::vector<double> wage_bn_reference(const std::vector<double>& x, const Nchw& s, const std::vector<double>& gamma,
                                      const std::vector<double>& beta, int mean_bits, int sigma_bits, int norm_bits,
                                      double eps) {
  const std::int64_t HW = s.h * s.w, M = s.n * HW;
  std::vector<double> y(x.size());
  for (std::int64_t c = 0; c < s.c; ++c) {
    double sum = 0;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) sum += x[static_cast<std::size_t>((n * s.c + c) * HW + i)];
    const double mean = sum / static_cast<double>(M);
    double ss = 0;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) {
        const double d = x[static_cast<std::size_t>((n * s.c + c) * HW + i)] - mean;
        ss += d * d;
      }
    const double sigma = std::sqrt(ss / static_cast<double>(M));
    const double mu_q = mean_bits ? q_direct(mean, mean_bits) : mean;
    const double s_q = (sigma_bits ? q_direct(sigma, sigma_bits) : sigma) + eps;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) {
        const auto e = static_cast<std::size_t>((n * s.c + c) * HW + i);
        double h = (x[e] - mu_q) / s_q;
        if (norm_bits) h = q_direct(h, norm_bits);
        y[e] = gamma[static_cast<std::size_t>(c)] * h + beta[static_cast<std::size_t>(c)];
      }
  }
  return y;
}

// Whether v * 2^f is an integer of magnitude at most `limit` (limit < 0: any magnitude).
bool on_grid(double v, int f, double limit) {
  const double t = std::ldexp(v, f);
  return t == std::floor(t) && (limit < 0 || std::abs(t) <= limit);
}

}  // namespace

TEST_CASE("wageubn: BN forward equals its definition, with and without rounding", "[wageubn]") {
  const Nchw s{6, 3, 4, 4};
  std::mt19937 rng(11);
  std::normal_distribution<double> nd(0.3, 1.7);
  FTensor x(s);
  for (float& v : x.data) v = static_cast<float>(nd(rng));
  const std::vector<double> xd(x.data.begin(), x.data.end());
  // gamma and beta on the 8-bit grid, so rounding them to W = direct(bits=8) changes nothing.
  const std::vector<double> gamma = {1.25, -0.5, 0.75}, beta = {0.125, 0.0, -0.25};
  for (const bool rounded : {false, true}) {
    DYNAMIC_SECTION((rounded ? "roles: mean, sigma 16 bits, x_hat 8 bits" : "roles fp32")) {
      BatchNormLayer bn(BatchNormSpec{s.c, 1e-5, 0.1});
      bn.name = "bn";
      bn.set_method(std::make_unique<bitsim::sim::methods::WageubnBatchNorm>());
      for (int c = 0; c < 3; ++c) {
        bn.params()[0]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(gamma[static_cast<std::size_t>(c)]);
        bn.params()[1]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(beta[static_cast<std::size_t>(c)]);
      }
      if (rounded) {
        bn.roles[Role::W] = wage_rounding(WageSpec::of(WageKind::direct, 8), false);
        bn.roles[Role::BN_MEAN] = wage_rounding(WageSpec::of(WageKind::direct, 16), false);
        bn.roles[Role::BN_SCALE] = wage_rounding(WageSpec::of(WageKind::direct, 16), false);
        bn.roles[Role::BN_NORM] = wage_rounding(WageSpec::of(WageKind::direct, 8), false);
      }
      StepContext ctx;
      ctx.threads = 2;
      bn.round_weights(ctx);
      FTensor y;
      run_forward(bn, ctx, x, y);
      const std::vector<double> want =
          wage_bn_reference(xd, s, gamma, beta, rounded ? 16 : 0, rounded ? 16 : 0, rounded ? 8 : 0, 0x1p-15);
      std::size_t exact = 0;
      for (std::size_t i = 0; i < want.size(); ++i) {
        // fp32 arithmetic (subtraction, division) against double: a few ulps; with x_hat rounded to
        // 2^-7 the result is the same grid point except where the fp32 quotient lands across a
        // rounding boundary (rare), which the margin of one step covers for those few.
        CHECK(y.data[i] == Approx(want[i]).margin(rounded ? 0x1p-7 * 1.3 + 1e-6 : 1e-5).epsilon(1e-5));
        if (static_cast<double>(y.data[i]) == want[i]) ++exact;
        if (rounded) CHECK(on_grid(bn.normalized().data[i], 7, -1));
      }
      if (rounded) CHECK(exact > want.size() * 95 / 100);  // nearly all bit-identical to the double definition
    }
  }
}

TEST_CASE("wageubn: BN backward equals fp64 finite differences (rounding off) - the variance term matters", "[wageubn]") {
  const Nchw s{4, 2, 3, 3};
  std::mt19937 rng(3);
  std::normal_distribution<double> nd(0.2, 1.5);
  BatchNormLayer bn(BatchNormSpec{s.c, 1e-5, 0.1});
  bn.name = "bn";
  bn.set_method(std::make_unique<bitsim::sim::methods::WageubnBatchNorm>(0x1p-15));
  const std::vector<double> gamma = {1.3, -0.6}, beta = {0.2, -0.1};
  for (int c = 0; c < 2; ++c) {
    bn.params()[0]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(gamma[static_cast<std::size_t>(c)]);
    bn.params()[1]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(beta[static_cast<std::size_t>(c)]);
  }
  FTensor x(s);
  for (float& v : x.data) v = static_cast<float>(nd(rng));
  const std::vector<double> xd(x.data.begin(), x.data.end());
  StepContext ctx;
  bn.round_weights(ctx);
  FTensor y;
  run_forward(bn, ctx, x, y);
  std::vector<double> w(xd.size());
  for (double& v : w) v = nd(rng);
  FTensor dy(s), dx;
  for (std::size_t i = 0; i < w.size(); ++i) dy.data[i] = static_cast<float>(w[i]);
  FTensor* out[1] = {&dx};
  bn.begin_backward(ctx, dy);
  bn.backward(ctx, dy, std::span<FTensor* const>(out, 1));
  auto loss = [&](const std::vector<double>& xx, const std::vector<double>& g, const std::vector<double>& b) {
    const std::vector<double> yy = wage_bn_reference(xx, s, g, b, 0, 0, 0, 0x1p-15);
    double l = 0;
    for (std::size_t i = 0; i < yy.size(); ++i) l += w[i] * yy[i];
    return l;
  };
  const double h = 1e-6;
  double worst = 0, largest = 0, mean_only_worst = 0;
  const std::vector<double> fds = bitsim::test::central_dx(loss, xd, gamma, beta, h);
  for (std::size_t i = 0; i < xd.size(); ++i) {
    const double fd = fds[i];
    worst = std::max(worst, std::abs(fd - dx.data[i]));
    largest = std::max(largest, std::abs(fd));
    // A gradient without the variance's share: g dy / s - g mean(dy) / s.
    const std::int64_t c = (static_cast<std::int64_t>(i) / (s.h * s.w)) % s.c;
    double sum_dy = 0, ss = 0, sum = 0;
    const std::int64_t HW = s.h * s.w;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t j = 0; j < HW; ++j) {
        sum_dy += w[static_cast<std::size_t>((n * s.c + c) * HW + j)];
        sum += xd[static_cast<std::size_t>((n * s.c + c) * HW + j)];
      }
    const double mean = sum / static_cast<double>(s.n * HW);
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t j = 0; j < HW; ++j) ss += std::pow(xd[static_cast<std::size_t>((n * s.c + c) * HW + j)] - mean, 2);
    const double sq = std::sqrt(ss / static_cast<double>(s.n * HW)) + 0x1p-15;
    const double g = gamma[static_cast<std::size_t>(c)];
    mean_only_worst = std::max(mean_only_worst, std::abs(fd - (g * w[i] / sq - g * sum_dy / static_cast<double>(s.n * HW) / sq)));
  }
  INFO("worst |fd - dx| = " << worst << ", largest |fd| = " << largest << ", mean-only formula off by " << mean_only_worst);
  CHECK(worst < 1e-4 * std::max(1.0, largest));
  CHECK(mean_only_worst > 100 * worst);  // the check can see a missing variance term
  bitsim::test::check_affine_grads(bn, loss, xd, gamma, beta, h);
}

TEST_CASE("wageubn: BN backward with rounding is the straight-through gradient - inference uses running statistics", "[wageubn]") {
  const Nchw s{4, 2, 3, 3};
  std::mt19937 rng(8);
  std::normal_distribution<double> nd(0.0, 1.0);
  FTensor x(s), dy(s);
  for (float& v : x.data) v = static_cast<float>(nd(rng));
  for (float& v : dy.data) v = static_cast<float>(nd(rng));
  auto grads = [&](bool rounded, FTensor& dx) {
    BatchNormLayer bn(BatchNormSpec{s.c, 1e-5, 0.5});
    bn.name = "bn";
    bn.set_method(std::make_unique<bitsim::sim::methods::WageubnBatchNorm>());
    if (rounded) bn.roles[Role::BN_NORM] = wage_rounding(WageSpec::of(WageKind::direct, 4), false);
    StepContext ctx;
    bn.round_weights(ctx);
    FTensor y;
    run_forward(bn, ctx, x, y);
    FTensor d = dy;
    FTensor* out[1] = {&dx};
    bn.begin_backward(ctx, d);
    bn.backward(ctx, d, std::span<FTensor* const>(out, 1));
    // Inference: the running statistics (momentum 0.5 from mean 0, var 1), not the batch's.
    StepContext inf;
    inf.training = false;
    FTensor yi;
    run_forward(bn, inf, x, yi);
    CHECK(yi.data != y.data);
    return bn.params()[0]->grad.data;  // dgamma reads the rounded x_hat
  };
  FTensor dx_plain, dx_rounded;
  const auto dg_plain = grads(false, dx_plain), dg_rounded = grads(true, dx_rounded);
  // dx does not read x_hat (straight through: the same as without rounding); dgamma does.
  CHECK(dx_plain.data == dx_rounded.data);
  CHECK(dg_plain != dg_rounded);
}

TEST_CASE("wageubn: learning rate on the 10-bit grid, weight decay inside G, stored weights on the 24-bit grid", "[wageubn]") {
  CHECK(wageubn_learning_rate(0.05, 10) == 26.0 / 512);    // 25.6 -> 26
  CHECK(wageubn_learning_rate(0.006, 10) == 3.0 / 512);    // 3.072 -> 3
  CHECK(wageubn_learning_rate(0.003, 10) == 2.0 / 512);    // 1.536 -> 2
  CHECK(wageubn_learning_rate(0.0015, 10) == 1.0 / 512);   // 0.768 -> 1
  CHECK(wageubn_learning_rate(0.0009765625, 10) == 0.0);   // 0.5 -> 0 (ties to even)
  CHECK(wageubn_learning_rate(5.0, 10) == 511.0 / 512);    // clipped to 1 - 2^-9
  CHECK(wageubn_learning_rate(0.05, 0) == 0.05);

  // A linear layer 3 -> 2: with the decay at the gradient, G rounds grad + wd w; the optimizer adds none.
  LinearSpec ls;
  ls.in_features = 3;
  ls.out_features = 2;
  ls.bias = false;
  LinearLayer lin(ls);
  lin.name = "fc";
  const std::vector<float> w0 = {0.5f, -0.25f, 0.125f, 1.0f, 0.75f, -0.5f};
  lin.params()[0]->value.data = w0;
  lin.grad_decay = 0.5f;
  lin.roles[Role::W_MASTER] = wage_rounding(WageSpec::of(WageKind::direct, 24), false);
  FTensor x(Nchw{1, 3, 1, 1}), dy(Nchw{1, 2, 1, 1}), dx;
  x.data = {1.0f, 2.0f, -1.0f};
  dy.data = {0.5f, -1.0f};
  StepContext ctx;
  lin.round_weights(ctx);
  FTensor y;
  run_forward(lin, ctx, x, y);
  FTensor* out[1] = {&dx};
  lin.begin_backward(ctx, dy);
  lin.backward(ctx, dy, std::span<FTensor* const>(out, 1));
  const std::vector<float>& g = lin.params()[0]->grad.data;
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i) {
      const auto k = static_cast<std::size_t>(o * 3 + i);
      CHECK(g[k] == dy.data[static_cast<std::size_t>(o)] * x.data[static_cast<std::size_t>(i)] + 0.5f * w0[k]);
    }
  // One step through a model holding just this layer: w <- Q(w - lr m, 24), m = g (first step).
  ModelSpec spec{"custom", {}};
  LayerSpec l;
  l.type = "linear";
  l.out = 2;
  l.bias = false;
  spec.layers = {l};
  Model m = build_model(spec, Nchw{1, 3, 1, 1}, [&](Layer& layer) {
    layer.roles[Role::W_MASTER] = wage_rounding(WageSpec::of(WageKind::direct, 24), false);
  });
  Param& p = *m.nodes()[0].layer->params()[0];
  p.value.data = {0.3f, -0.7f, 0.1f, 0.9f, -0.2f, 0.6f};
  p.grad.data = {0.01f, 0.02f, -0.03f, 0.04f, 0.05f, -0.06f};
  SgdConfig sc;
  sc.momentum = 0.25;
  sc.weight_decay = 0;
  sc.lr_bits = 10;
  const std::vector<float> before = p.value.data, grad = p.grad.data;
  sgd_step(m, sc, wageubn_learning_rate(0.05, sc.lr_bits), StepContext{});
  for (std::size_t k = 0; k < before.size(); ++k) {
    const double want = q_direct(static_cast<double>(before[k] - static_cast<float>(26.0 / 512) * grad[k]), 24);
    CHECK(p.value.data[k] == static_cast<float>(want));
    CHECK(on_grid(p.value.data[k], 23, -1));
  }
}

TEST_CASE("wageubn: config keys for the quantizers, WAGEUBN BN and the optimizer - errors name file, line and key",
          "[wageubn][train]") {
  const std::string base = R"toml(
[model]
name = "cnn"
width = 4
[optimizer]
weight_decay = 1e-4
weight_decay_point = "gradient"
lr_bits = 10
[formats]
batchnorm = "wageubn"
W = "direct(bits=8, clip=unit)"
E = "shift(bits=8)"
DY = "flag(bits=16)"
G = "constant(bits=8)"
M = { format = "constant(bits=8,gscale=32)", rounding = "rne" }
W_MASTER = "direct(bits=24)"
U = "shift(bits=6,clip=pm1)"
)toml";
  const train::TrainConfig c = train::parse_config(base, "w.toml");
  CHECK(train::to_toml(train::parse_config(train::to_toml(c), "r.toml")) == train::to_toml(c));
  CHECK(c.sgd.decay_in_gradient);
  CHECK(c.sgd.lr_bits == 10);
  ConvSpec cs;
  cs.in_channels = 1;
  cs.out_channels = 4;
  ConvLayer conv(cs);
  conv.name = "conv2";
  train::configure_layer(c, conv);
  CHECK(conv.roles[Role::W].describe() == "direct(bits=8,clip=unit)");
  CHECK(conv.roles[Role::E].describe() == "shift(bits=8)");
  CHECK(conv.roles[Role::DY].describe() == "flag(bits=16)");
  CHECK(conv.roles[Role::G].describe() == "constant(bits=8) sr");
  CHECK(conv.roles[Role::M].describe() == "constant(bits=8,gscale=32)");
  CHECK(conv.roles[Role::W_MASTER].describe() == "direct(bits=24)");
  CHECK(conv.roles[Role::U].describe() == "shift(bits=6,clip=pm1)");
  CHECK(conv.grad_decay == 1e-4f);
  BatchNormLayer bn(BatchNormSpec{4, 1e-5, 0.1});
  bn.name = "bn1";
  train::configure_layer(c, bn);
  CHECK(bn.method().name() == "wageubn");

  SECTION("bad values") {
    auto err = [&](const std::string& text) { return error_of<train::ConfigError>([&] { train::parse_config(text, "bad.toml"); }); };
    CHECK_THAT(err("[formats]\nW = \"direct(bits=40)\"\n"), Catch::Contains("bad.toml:2: key 'formats.W'") && Catch::Contains("1..32"));
    CHECK_THAT(err("[formats]\nE = \"shift(bits=8,clip=wide)\"\n"), Catch::Contains("key 'clip': expected none, unit or pm1"));
    CHECK_THAT(err("[formats]\nDY = \"flag(bits=8,clip=unit)\"\n"), Catch::Contains("unknown key 'clip'"));
    CHECK_THAT(err("[formats]\nG = \"constant(bits=8,gscale=96)\"\n"), Catch::Contains("power of two"));
    CHECK_THAT(err("[formats]\nG = \"constant(gscale=32)\"\n"), Catch::Contains("missing required key 'bits'"));
    CHECK_THAT(err("[formats]\nE = \"shift(bits=1)\"\n"), Catch::Contains("2..24"));
    CHECK_THAT(err("[formats]\nE = { format = \"shift(bits=8)\", rounding = \"sr\" }\n"),
               Catch::Contains("key 'formats.E.rounding'") && Catch::Contains("rne"));  // sr is constant's only
    CHECK_THAT(err("[optimizer]\nweight_decay_point = \"loss\"\n"), Catch::Contains("optimizer.weight_decay_point"));
    CHECK_THAT(err("[optimizer]\nlr_bits = 40\n"), Catch::Contains("optimizer.lr_bits"));
    CHECK_THAT(err("[formats]\nbatchnorm = \"wage\"\n"), Catch::Contains("formats.batchnorm"));
  }
}

namespace {

// Collects every rounding of a step and checks each WAGEUBN-rounded tensor against its format, by
// arithmetic independent of the quantizers: the integer grid and width each configured spec promises.
struct RepresentabilityWalk : RoundingObserver {
  std::map<std::string, int> seen;        // "layer ROLE" -> events checked
  std::vector<std::string> failures;
  std::map<std::string, double> widest;   // "layer ROLE" -> largest integer magnitude met (direct, unbounded)
  void on_rounding(const RoundingEvent& e) override {
    const RoleRounding& rr = e.layer->roles[e.role];
    const std::string key = e.layer->name + " " + role_name(e.role);
    // The output of a conv whose operands are both on the 2^-7 grid (8-bit weights, 8-bit activations)
    // is a sum of integers times 2^-14: the fp32 accumulation must have kept it exact.
    if (e.role == Role::A && std::string(e.layer->kind()) == "conv" && e.layer->name != "conv1") {
      ++seen[key];
      for (std::size_t i = 0; i < e.after.size(); ++i)
        if (!on_grid(e.after[i], 14, 0x1p24)) {
          if (failures.size() < 20) failures.push_back(fmt::format("{} element {} = {}: not an exact 2^-14 integer", key, i, e.after[i]));
        }
      return;
    }
    const WageSpec* spec = wage_spec_of(rr);
    if (!spec) return;
    ++seen[key];
    const WageSpec& s = *spec;
    const int k = s.bits;
    double max_abs_before = 0;
    for (float v : e.before) max_abs_before = std::max(max_abs_before, std::abs(static_cast<double>(v)));
    auto fail = [&](std::size_t i, const std::string& why) {
      if (failures.size() < 20)
        failures.push_back(fmt::format("{} ({}) element {} = {}: {}", key, e.tensor, i, e.after[i], why));
    };
    // The scaled kinds: the exponent must be round(log2 max|before|) (checked in long double away
    // from the half-way points), and zero tensors stay zero.
    if (s.kind != WageKind::direct) {
      if (max_abs_before == 0) {
        if (e.scale.scaled) fail(0, "an all-zero tensor reported a scale");
        return;
      }
      const long double l2 = std::log2(static_cast<long double>(max_abs_before));
      if (std::abs(l2 - std::floor(l2) - 0.5L) > 1e-6L && e.scale.exponent != static_cast<int>(std::lround(l2)))
        fail(0, fmt::format("scale 2^{} is not 2^round(log2 {})", e.scale.exponent, max_abs_before));
    }
    const int n = e.scale.exponent;
    const double top = std::ldexp(1.0, k - 1) - 1;  // 2^(k-1) - 1
    for (std::size_t i = 0; i < e.after.size(); ++i) {
      const double y = e.after[i];
      switch (s.kind) {
        case WageKind::direct: {
          const double lim = s.clip == WageClip::unit ? top : s.clip == WageClip::pm1 ? top + 1 : -1;
          if (!on_grid(y, k - 1, lim)) fail(i, fmt::format("not k/2^{} with |k| <= {}", k - 1, lim));
          widest[key] = std::max(widest[key], std::abs(std::ldexp(y, k - 1)));
          break;
        }
        case WageKind::shift:  // R k / 2^(k-1), |k| <= 2^(k-1) - 1 (clip unit)
          if (!on_grid(y, k - 1 - n, s.clip == WageClip::unit ? top : top + 1)) fail(i, "not an 8-bit multiple of R 2^(1-k)");
          break;
        case WageKind::flag: {  // units of s = R 2^(1-k) up to 2^(k-1) - 1, or of s 2^(1-k) up to 2^(k-1)
          const int f = k - 1 - n;
          if (!on_grid(y, f, top) && !on_grid(y, f + k - 1, top + 1)) fail(i, "neither grid of the flag format");
          break;
        }
        case WageKind::constant:  // t / 2^(c-1), |t| <= gscale - 1
          if (!on_grid(y, s.const_bits - 1, static_cast<double>(s.dynamic_range() - 1))) fail(i, "not t / 2^(c-1) with |t| < gscale");
          break;
      }
    }
  }
};

}  // namespace

TEST_CASE("wageubn: representability walk: two training steps of the full 8-bit scheme keep every stored or "
          "multiplied tensor an integer of its configured width",
          "[wageubn][train]") {
  const train::TrainConfig c =
      train::load_config(BITSIM_SOURCE_DIR "/experiments/wageubn2019/cnn_full8.toml", {"model.width=4"});
  Model model = build_model(builtin_model(c.model, 10, c.width), Nchw{1, 1, 28, 28},
                            [&](Layer& l) { train::configure_layer(c, l); });
  initialize(model, 7);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  FTensor x(Nchw{16, 1, 28, 28}), dlogits;
  for (float& v : x.data) v = nd(rng);
  std::vector<std::int32_t> labels(16);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  RepresentabilityWalk walk;
  std::vector<double> lr_used;
  for (std::uint64_t step = 0; step < 2; ++step) {
    StepContext ctx;
    ctx.step = step;
    ctx.seed = 5;
    ctx.threads = 2;
    ctx.observer = &walk;
    model.round_weights(ctx);
    const FTensor& logits = model.forward(ctx, x);
    softmax_cross_entropy(logits, labels, &dlogits);
    model.round_loss_gradient(ctx, dlogits);
    model.backward(ctx, dlogits);
    lr_used.push_back(wageubn_learning_rate(0.05, c.sgd.lr_bits));  // what the trainer passes
    sgd_step(model, c.sgd, lr_used.back(), ctx);
  }
  for (const auto& f : walk.failures) UNSCOPED_INFO(f);
  CHECK(walk.failures.empty());
  // Every data path of the paper was seen (and checked) in every quantized layer, both steps.
  std::vector<std::string> expected;
  for (const char* conv : {"conv2", "conv3", "conv4"})
    for (const char* r : {"W", "G", "E", "DY", "M", "W_MASTER"}) expected.push_back(std::string(conv) + " " + r);
  for (const char* bn : {"bn1", "bn2", "bn3", "bn4"})
    for (const char* r : {"W", "G", "BN_MEAN", "BN_SCALE", "BN_NORM", "M", "W_MASTER"}) expected.push_back(std::string(bn) + " " + r);
  for (const char* relu : {"relu1", "relu2", "relu3", "relu4"}) expected.push_back(std::string(relu) + " A");
  for (const char* conv : {"conv2", "conv3", "conv4"}) expected.push_back(std::string(conv) + " A");  // exact accumulators
  for (const auto& k : expected) {
    INFO(k);
    CHECK(walk.seen[k] >= 2);
  }
  // The first conv and the classifier are fp32 (the reference code's choice): nothing checked there.
  CHECK(walk.seen.count("conv1 W") == 0);
  CHECK(walk.seen.count("fc1 G") == 0);
  // The learning rate multiplies on its 10-bit grid.
  for (double lr : lr_used) CHECK(on_grid(lr, 9, 511));
  // Widths that direct quantization leaves unbounded, as met in this step (the reference code does not
  // clip A, the BN statistics or the momentum either): reported, and bounded by what a float holds.
  for (const auto& [k, v] : walk.widest) {
    UNSCOPED_INFO(k << ": largest integer " << v);
    CHECK(v < 0x1p24);
  }
}

TEST_CASE("wageubn: a smoke run of the full 8-bit scheme lowers the loss", "[wageubn][train]") {
  // 14 steps with a 3-step warm-up: the experiment's rate 0.5 throws the fp32 classifier about; a
  // quarter of it trains.
  const bitsim::test::SmokeRun run =
      bitsim::test::smoke_run(BITSIM_SOURCE_DIR "/experiments/wageubn2019/cnn_full8.toml", {"optimizer.lr=0.125"});
  REQUIRE(run.train_loss.size() == 2);
  CHECK(run.train_loss[1] < run.train_loss[0]);
  CHECK(run.train_loss[1] < std::log(10.0));
  CHECK(run.result.test_accuracy > 0.3);
  CHECK_THAT(run.model_txt, Catch::Contains("G=constant(bits=8) sr") && Catch::Contains("DY=flag(bits=8)") &&
                                Catch::Contains("E=shift(bits=8)") && Catch::Contains("wageubn-BN"));
}

TEST_CASE("wageubn: each variant config differs from full 8-bit in exactly the roles it names", "[wageubn][train]") {
  // Role descriptions of every layer of the CNN under a config, and the optimizer.
  auto roles_of = [](const std::string& file) {
    const train::TrainConfig c = train::load_config(BITSIM_SOURCE_DIR "/experiments/wageubn2019/" + file, {"model.width=4"});
    std::map<std::string, std::string> out;
    Model m = build_model(builtin_model(c.model, 10, c.width), Nchw{1, 1, 28, 28}, [&](Layer& l) { train::configure_layer(c, l); });
    for (auto& n : m.nodes())
      for (int r = 0; r < kRoleCount; ++r)
        out[n.layer->name + " " + role_name(static_cast<Role>(r))] = n.layer->roles[static_cast<Role>(r)].describe();
    out["optimizer"] = fmt::format("{} {} {}", c.sgd.momentum, c.sgd.lr_bits, c.schedule.lr);
    return out;
  };
  const auto base = roles_of("cnn_full8.toml");
  const std::vector<std::string> convs = {"conv2", "conv3", "conv4"}, bns = {"bn1", "bn2", "bn3", "bn4"},
                                 relus = {"relu1", "relu2", "relu3", "relu4"};
  auto each = [](const std::vector<std::string>& layers, const std::vector<std::string>& roles) {
    std::set<std::string> s;
    for (const auto& l : layers)
      for (const auto& r : roles) s.insert(l + " " + r);
    return s;
  };
  const std::vector<std::pair<std::string, std::set<std::string>>> variants = {
      {"cnn_e2_16.toml", each(convs, {"DY"})},     {"cnn_w16.toml", each(convs, {"W"})},
      {"cnn_a16.toml", each(relus, {"A"})},        {"cnn_g16.toml", each(convs, {"G"})},
      {"cnn_e1_16.toml", each(convs, {"E"})},      {"cnn_bn16.toml", each(bns, {"W", "BN_NORM"})},
      {"cnn_true8.toml", [&] {
         auto s = each(relus, {"A"});
         s.merge(each(bns, {"BN_NORM"}));
         return s;
       }()},
  };
  for (const auto& [file, want] : variants) {
    INFO(file);
    const auto v = roles_of(file);
    std::set<std::string> changed;
    for (const auto& [k, d] : base)
      if (v.at(k) != d) changed.insert(k);
    CHECK(changed == want);
    for (const auto& k : want) CHECK_THAT(v.at(k), Catch::Contains(file == "cnn_true8.toml" ? "shift(bits=8)" : "bits=16"));
  }
}

TEST_CASE("wageubn: the full 8-bit scheme resumes bit for bit, with 1 or 2 threads", "[wageubn][train]") {
  // The 24-bit stored weights, the 13-bit momentum and the stochastic rounding of G continue exactly.
  bitsim::test::check_resumes_bit_exact(BITSIM_SOURCE_DIR "/experiments/wageubn2019/cnn_full8.toml");
}

TEST_CASE("wageubn: the gradients' dynamic range follows schedule.gscale", "[wageubn][train]") {
  const train::TrainConfig c = train::parse_config(R"toml(
[model]
name = "cnn"
width = 4
[schedule]
gscale = [128, 32, 8, 2]
gscale_milestones = [30, 60, 80]
[formats]
G = "constant(bits=8)"
[[formats.override]]
kinds = ["batchnorm"]
G = "direct(bits=15)"
)toml", "g.toml");
  CHECK(train::to_toml(train::parse_config(train::to_toml(c), "r.toml")) == train::to_toml(c));
  // 10 steps per epoch: epochs 0-29 -> 128, 30-59 -> 32, 60-79 -> 8, 80- -> 2.
  CHECK(gscale_at(c.schedule, 0, 10) == 128);
  CHECK(gscale_at(c.schedule, 299, 10) == 128);
  CHECK(gscale_at(c.schedule, 300, 10) == 32);
  CHECK(gscale_at(c.schedule, 799, 10) == 8);
  CHECK(gscale_at(c.schedule, 800, 10) == 2);
  CHECK(gscale_at(ScheduleConfig{}, 800, 10) == 0);
  Model m = build_model(builtin_model("cnn", 10, 4), Nchw{1, 1, 28, 28}, [&](Layer& l) { train::configure_layer(c, l); });
  set_gradient_range(m, 8);
  for (auto& n : m.nodes()) {
    const RoleRounding& g = n.layer->roles[Role::G];
    INFO(n.layer->name);
    if (std::string(n.layer->kind()) == "batchnorm") CHECK(g.describe() == "direct(bits=15)");  // not a constant role
    else CHECK(g.describe() == "constant(bits=8,gscale=8) sr");
  }
  // With gscale 2 a gradient is -1, 0 or 1 times 2^-14.
  set_gradient_range(m, 2);
  std::vector<float> g = {0.3f, -0.01f, 0.2f, -0.7f, 0.0f};
  m.nodes()[0].layer->roles[Role::G].apply(g, 9);
  for (float v : g) CHECK((v == 0.0f || std::abs(v) == 0x1p-14f));
  CHECK(g[3] == -0x1p-14f);  // 2 * 0.7 / 0.5 = 2.8 -> clamped to 1

  auto err = [&](const std::string& text) { return error_of<train::ConfigError>([&] { train::parse_config(text, "bad.toml"); }); };
  CHECK_THAT(err("[schedule]\ngscale = [128, 48]\ngscale_milestones = [3]\n"), Catch::Contains("bad.toml:2: key 'schedule.gscale'") && Catch::Contains("powers of two"));
  CHECK_THAT(err("[schedule]\ngscale = [128, 32]\n"), Catch::Contains("needs gscale_milestones"));
  CHECK_THAT(err("[schedule]\ngscale = [128, 32]\ngscale_milestones = [3, 4]\n"), Catch::Contains("one entry fewer"));
}
