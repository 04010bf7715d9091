// Adam and AdamW (sim/nn/optimizer.hpp): bit for bit equal to the documented fp32 update (docs/training.md,
// step 5), with fp8 M, V and U roles too; within float rounding of a plain double implementation over
// many steps; and the config keys that choose them, with their errors.
#include "sim/nn/model.hpp"
#include "sim/nn/optimizer.hpp"
#include "sim/train/config.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using bitsim::formats::parse_format;
using bitsim::formats::RoundingSpec;

namespace {

Model linear_model(const std::function<void(Layer&)>& configure = nullptr) {
  ModelSpec spec;
  LayerSpec lin;
  lin.type = "linear";
  lin.out = 3;
  spec.layers = {lin};
  return build_model(spec, Nchw{1, 4, 1, 1}, configure ? configure : [](Layer&) {});
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

struct Reference {
  std::vector<float> w, m, v;
};

}  // namespace

TEST_CASE("adam: adam_step equals the documented fp32 update bit for bit", "[nn][adam]") {
  const bitsim::formats::Quantizer q8(parse_format("fp8_e4m3"));
  auto q = [&](float x) {
    float out[1];
    const float in[1] = {x};
    q8.quantize(std::span<const float>(in, 1), std::span<float>(out, 1));
    return out[0];
  };
  struct Case {
    const char* what;
    bool decoupled;
    double wd, lr, beta1, beta2, eps;
    bool decay_bias, fp8_states;
  };
  const Case cases[] = {
      {"adam, L2 weight decay", false, 1e-2, 1e-3, 0.9, 0.999, 1e-8, true, false},
      {"adamw, decoupled decay, no decay on the bias", true, 5e-2, 3e-3, 0.8, 0.99, 1e-6, false, false},
      {"adam without decay", false, 0.0, 1e-2, 0.9, 0.999, 1e-8, true, false},
      {"adamw with M, V and U in fp8_e4m3", true, 1e-2, 2e-3, 0.9, 0.95, 1e-8, true, true},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    Model model = linear_model([&](Layer& l) {
      if (c.fp8_states)
        for (Role r : {Role::M, Role::V, Role::U}) l.roles[r] = RoleRounding(parse_format("fp8_e4m3"), RoundingSpec{});
    });
    auto params = model.parameters();
    REQUIRE(params.size() == 2);
    std::mt19937 rng(91);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<Reference> ref;
    for (auto& [name, p] : params) {
      p->grad = FTensor(p->value.shape);
      for (float& x : p->value.data) x = static_cast<float>(nd(rng));
      ref.push_back({p->value.data, std::vector<float>(p->value.data.size(), 0.0f), std::vector<float>(p->value.data.size(), 0.0f)});
    }
    SgdConfig common;
    common.weight_decay = c.wd;
    common.decay_bn_and_bias = c.decay_bias;
    AdamConfig adam{c.beta1, c.beta2, c.eps};
    const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2);
    const float a1 = static_cast<float>(1 - c.beta1), a2 = static_cast<float>(1 - c.beta2), eps = static_cast<float>(c.eps);
    for (std::uint64_t t = 1; t <= 3; ++t) {  // the moments carry over, the bias corrections change
      std::vector<std::vector<float>> grads;
      for (auto& [name, p] : params) {
        for (float& g : p->grad.data) g = static_cast<float>(0.5 * nd(rng));
        grads.push_back(p->grad.data);
      }
      StepContext ctx;
      ctx.step = t - 1;
      adam_step(model, common, adam, c.decoupled, c.lr, t, ctx);
      const float s = static_cast<float>(c.lr / (1 - std::pow(c.beta1, static_cast<double>(t))));
      const float corr = static_cast<float>(std::sqrt(1 - std::pow(c.beta2, static_cast<double>(t))));
      for (std::size_t k = 0; k < params.size(); ++k) {
        INFO(params[k].first << ", step " << t);
        const Param* p = params[k].second;
        Reference& r = ref[k];
        const double wd = (p->name == "weight" || c.decay_bias) ? c.wd : 0.0;
        std::size_t bad = 0;
        for (std::size_t i = 0; i < r.w.size(); ++i) {
          float g = grads[k][i];
          if (!c.decoupled && wd != 0) g = g + static_cast<float>(wd) * r.w[i];
          float w = r.w[i];
          if (c.decoupled && wd != 0) w = w * static_cast<float>(1 - c.lr * wd);
          float m = r.m[i] * b1 + g * a1;
          if (c.fp8_states) m = q(m);
          float v = r.v[i] * b2 + (a2 * g) * g;
          if (c.fp8_states) v = q(v);
          float u = (s * m) / (std::sqrt(v) / corr + eps);
          if (c.fp8_states) u = q(u);
          w = w - u;
          bad += !same_bits(p->value.data[i], w) + !same_bits(p->momentum.data[i], m) + !same_bits(p->second_moment.data[i], v);
          r.w[i] = w;
          r.m[i] = m;
          r.v[i] = v;
        }
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("adam: each of 200 fp32 steps is within float rounding of a plain double Adam step", "[nn][adam]") {
  // Each step starts the double implementation from the fp32 state (weights, moments) and compares one
  // step: every quantity within a few float roundings of the exact one. The float state itself runs on
  // for 200 steps (the bias corrections change from step 1 to nearly 1).
  const double f_eps = std::ldexp(1.0, -24);  // float's unit roundoff
  for (const bool decoupled : {false, true}) {
    INFO((decoupled ? "adamw" : "adam"));
    Model model = linear_model();
    auto params = model.parameters();
    std::mt19937 rng(5);
    std::normal_distribution<double> nd(0.0, 1.0);
    for (auto& [name, p] : params) {
      p->grad = FTensor(p->value.shape);
      for (float& x : p->value.data) x = static_cast<float>(nd(rng));
    }
    SgdConfig common;
    common.weight_decay = 0.01;
    const AdamConfig adam{0.9, 0.999, 1e-8};
    const double lr = 1e-3, wd = 0.01;
    std::size_t bad = 0, compared = 0;
    double worst_w = 0;
    for (std::uint64_t t = 1; t <= 200; ++t) {
      struct Expect {
        double w, m, v, g, u;
      };
      std::vector<std::vector<Expect>> expect;
      for (auto& [name, p] : params) {
        std::vector<Expect> e;
        for (std::size_t i = 0; i < p->value.data.size(); ++i) {
          // A gradient of the current weights (a noisy quadratic bowl).
          const double w = p->value.data[i];
          const float gf = static_cast<float>(w - 0.3 + 0.1 * std::sin(static_cast<double>(t + i)));
          p->grad.data[i] = gf;
          const double m0 = p->momentum.data.empty() ? 0.0 : p->momentum.data[i];
          const double v0 = p->second_moment.data.empty() ? 0.0 : p->second_moment.data[i];
          const double g = gf + (decoupled ? 0.0 : wd * w);
          const double m = 0.9 * m0 + 0.1 * g;
          const double v = 0.999 * v0 + 0.001 * g * g;
          const double mhat = m / (1 - std::pow(0.9, static_cast<double>(t)));
          const double vhat = v / (1 - std::pow(0.999, static_cast<double>(t)));
          const double u = lr * mhat / (std::sqrt(vhat) + 1e-8);
          e.push_back({(decoupled ? w * (1 - lr * wd) : w) - u, m, v, g, u});
        }
        expect.push_back(e);
      }
      StepContext ctx;
      ctx.step = t - 1;
      adam_step(model, common, adam, decoupled, lr, t, ctx);
      for (std::size_t k = 0; k < params.size(); ++k) {
        const Param* p = params[k].second;
        for (std::size_t i = 0; i < expect[k].size(); ++i) {
          const Expect& e = expect[k][i];
          const double dm = std::abs(p->momentum.data[i] - e.m), dv = std::abs(p->second_moment.data[i] - e.v);
          const double dw = std::abs(p->value.data[i] - e.w);
          bad += dm > 4 * f_eps * (std::abs(e.m) + std::abs(e.g));
          bad += dv > 6 * f_eps * (std::abs(e.v) + e.g * e.g);
          bad += dw > 4 * f_eps * std::abs(e.w) + 8 * f_eps * std::abs(e.u);
          worst_w = std::max(worst_w, dw);
          ++compared;
        }
      }
    }
    INFO("largest weight difference " << worst_w);
    CHECK(compared == 200 * 15);  // weight 3x4 and bias 3, every step
    CHECK(bad == 0);
  }
}

TEST_CASE("adam: optimizer.name chooses it, and SGD's and Adam's own keys are refused for the other", "[adam][config]") {
  const std::string base = "name = \"t\"\n[model]\nname = \"mlp\"\n[optimizer]\nlr = 0.001\n";
  auto parse = [&](const std::string& extra, std::vector<std::string> sets = {}) {
    return train::parse_config(base + extra, "t.toml", sets);
  };
  CHECK(parse("").optimizer == "sgd");
  const train::TrainConfig a = parse("name = \"adamw\"\nbeta1 = 0.8\nbeta2 = 0.95\neps = 1e-6\n");
  CHECK(a.optimizer == "adamw");
  CHECK(a.adam.beta1 == 0.8);
  CHECK(a.adam.beta2 == 0.95);
  CHECK(a.adam.eps == 1e-6);
  CHECK(parse("name = \"adam\"\n").optimizer == "adam");
  auto error = [&](const std::string& extra) -> std::string {
    try {
      (void)parse(extra);
    } catch (const train::ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(error("name = \"adam\"\nmomentum = 0.9\n"), Catch::Contains("t.toml") && Catch::Contains("momentum") && Catch::Contains("SGD"));
  CHECK_THAT(error("name = \"adamw\"\nnesterov = true\n"), Catch::Contains("nesterov"));
  CHECK_THAT(error("beta2 = 0.99\n"), Catch::Contains("beta2") && Catch::Contains("adam"));
  CHECK_THAT(error("name = \"adamw\"\nweight_decay_point = \"gradient\"\n"), Catch::Contains("weight_decay_point"));
  CHECK_THAT(error("name = \"lamb\"\n"), Catch::Contains("name") && Catch::Contains("adamw"));
  CHECK_THAT(error("name = \"adam\"\nbeta1 = 1.5\n"), Catch::Contains("beta1"));
  // SGD's resolved config does not change (so earlier runs' checkpoints still match it).
  CHECK(train::to_toml(parse("")).find("beta1") == std::string::npos);
  CHECK(train::to_toml(a).find("beta1 = 0.8") != std::string::npos);
}

TEST_CASE("adam: the resolved config of an Adam run reads back (SGD's momentum keys are not written)", "[adam][train]") {
  for (const char* name : {"adam", "adamw"}) {
    INFO(name);
    const bitsim::sim::train::TrainConfig c =
        bitsim::sim::train::parse_config(std::string("[optimizer]\nname = \"") + name + "\"\nbeta2 = 0.98\n", "adam.toml");
    const std::string written = bitsim::sim::train::to_toml(c);
    CHECK(written.find("momentum") == std::string::npos);
    CHECK(written.find("nesterov") == std::string::npos);
    CHECK(written.find("beta2 = 0.98") != std::string::npos);
    CHECK(bitsim::sim::train::to_toml(bitsim::sim::train::parse_config(written, "written.toml")) == written);
  }
  // SGD still writes them, so resolved configs of SGD runs are unchanged.
  const std::string sgd = bitsim::sim::train::to_toml(bitsim::sim::train::parse_config("[optimizer]\nname = \"sgd\"\n", "sgd.toml"));
  CHECK(sgd.find("momentum = 0.9") != std::string::npos);
  CHECK(sgd.find("nesterov = false") != std::string::npos);
}

TEST_CASE("adam: each optimizer's own keys are refused under the other, naming the key", "[adam][train]") {
  using bitsim::sim::train::parse_config;
  CHECK_THROWS_WITH(parse_config("[optimizer]\nname = \"adamw\"\nmomentum = 0.8\n", "a.toml"),
                    Catch::Contains("a.toml:3") && Catch::Contains("optimizer.momentum") &&
                        Catch::Contains("is SGD's; optimizer.name = \"adamw\" has none"));
  CHECK_THROWS_WITH(parse_config("[optimizer]\nname = \"adam\"\nnesterov = true\n", "a.toml"),
                    Catch::Contains("optimizer.nesterov") && Catch::Contains("is SGD's"));
  for (const char* key : {"beta1", "beta2", "eps"})
    CHECK_THROWS_WITH(parse_config(std::string("[optimizer]\nname = \"sgd\"\n") + key + " = 0.5\n", "s.toml"),
                      Catch::Contains(std::string("optimizer.") + key) &&
                          Catch::Contains("is Adam's; set optimizer.name = \"adam\" or \"adamw\""));
}
