// Graham 2017, low-precision batch-normalized activations: batch norm split into the normalization N and
// the affine step, N(x) rounded to a Graham format and stored as its codes, the backward pass of the
// paper's equation (2) reading the stored values; the memory those codes take; which batch norms a
// config quantizes (`index`); a smoke run.
#include "formats/format.hpp"
#include "formats/format_text.hpp"
#include "formats/quantizer.hpp"
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/model.hpp"
#include "sim/nn/model_zoo.hpp"
#include "sim/train/config.hpp"

#include "train_checks.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;

namespace {

const char* const kGrahamFormats[] = {"graham_L2", "graham_L3", "graham_L4", "graham_L5",
                                      "graham_U4", "graham_U5", "graham_U8", "graham_O4"};

struct BnRun {
  FTensor y, dx;
  std::vector<float> dgamma, dbeta;
  BatchNormStorage storage;
  std::vector<float> x_hat_after_backward;
};

// One training forward and backward of `bn` on x with output gradient dy.
BnRun run_bn(BatchNormLayer& bn, const FTensor& x, const FTensor& dy_in, int threads = 1) {
  StepContext ctx;
  ctx.threads = threads;
  bn.round_weights(ctx);
  BnRun r;
  const FTensor* in[1] = {&x};
  bn.forward(ctx, std::span<const FTensor* const>(in, 1), r.y);
  r.storage = bn.storage();
  FTensor dy = dy_in;
  FTensor* out[1] = {&r.dx};
  bn.begin_backward(ctx, dy);
  bn.backward(ctx, dy, std::span<FTensor* const>(out, 1));
  r.dgamma = bn.params()[0]->grad.data;
  r.dbeta = bn.params()[1]->grad.data;
  r.x_hat_after_backward = bn.normalized().data;
  return r;
}

BatchNormLayer make_bn(std::int64_t channels, const std::vector<double>& gamma, const std::vector<double>& beta,
                       const char* norm_format = nullptr) {
  BatchNormLayer bn(BatchNormSpec{channels, 1e-5, 0.1});
  bn.name = "bn";
  for (std::int64_t c = 0; c < channels; ++c) {
    bn.params()[0]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(gamma[static_cast<std::size_t>(c)]);
    bn.params()[1]->value.data[static_cast<std::size_t>(c)] = static_cast<float>(beta[static_cast<std::size_t>(c)]);
  }
  if (norm_format) bn.roles[Role::BN_NORM] = RoleRounding(bitsim::formats::parse_format(norm_format), {});
  return bn;
}

FTensor random_tensor(const Nchw& s, std::mt19937& rng, double mean, double sd) {
  std::normal_distribution<double> nd(mean, sd);
  FTensor t(s);
  for (float& v : t.data) v = static_cast<float>(nd(rng));
  return t;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}

// Batch norm's forward in double: y = gamma (x - mean) / sqrt(var + eps) + beta, biased variance.
std::vector<double> bn_reference(const std::vector<double>& x, const Nchw& s, const std::vector<double>& gamma,
                                 const std::vector<double>& beta, double eps) {
  const std::int64_t HW = s.h * s.w, M = s.n * HW;
  std::vector<double> y(x.size());
  for (std::int64_t c = 0; c < s.c; ++c) {
    double sum = 0, ss = 0;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) sum += x[static_cast<std::size_t>((n * s.c + c) * HW + i)];
    const double mean = sum / static_cast<double>(M);
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) ss += std::pow(x[static_cast<std::size_t>((n * s.c + c) * HW + i)] - mean, 2);
    const double r = 1 / std::sqrt(ss / static_cast<double>(M) + eps);
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t i = 0; i < HW; ++i) {
        const auto e = static_cast<std::size_t>((n * s.c + c) * HW + i);
        y[e] = gamma[static_cast<std::size_t>(c)] * (x[e] - mean) * r + beta[static_cast<std::size_t>(c)];
      }
  }
  return y;
}

}  // namespace

TEST_CASE("graham: split batch norm backward equals fp64 central differences (quantization off)", "[graham]") {
  for (const Nchw s : {Nchw{4, 2, 3, 3}, Nchw{16, 3, 1, 1}}) {
    INFO("shape " << s.to_string());
    std::mt19937 rng(11);
    const std::vector<double> gamma3 = {1.3, -0.6, 0.8}, beta3 = {0.2, -0.1, 0.4};
    const std::vector<double> gamma(gamma3.begin(), gamma3.begin() + s.c), beta(beta3.begin(), beta3.begin() + s.c);
    BatchNormLayer bn = make_bn(s.c, gamma, beta);
    const FTensor x = random_tensor(s, rng, 0.3, 1.7), dy = random_tensor(s, rng, 0.0, 1.0);
    const BnRun r = run_bn(bn, x, dy);
    const std::vector<double> xd(x.data.begin(), x.data.end()), w(dy.data.begin(), dy.data.end());
    auto loss = [&](const std::vector<double>& xx, const std::vector<double>& g, const std::vector<double>& b) {
      const std::vector<double> yy = bn_reference(xx, s, g, b, 1e-5);
      double l = 0;
      for (std::size_t i = 0; i < yy.size(); ++i) l += w[i] * yy[i];
      return l;
    };
    const double h = 1e-6;
    const std::vector<double> fd = bitsim::test::central_dx(loss, xd, gamma, beta, h);
    double worst = 0, largest = 0, no_norm_term = 0;
    for (std::size_t i = 0; i < fd.size(); ++i) {
      worst = std::max(worst, std::abs(fd[i] - r.dx.data[i]));
      largest = std::max(largest, std::abs(fd[i]));
    }
    // Equation (2) without its N o mean(N o grad N) term would be visibly wrong: the check can fail.
    for (std::size_t i = 0; i < fd.size(); ++i) {
      const std::int64_t c = (static_cast<std::int64_t>(i) / (s.h * s.w)) % s.c;
      const double g = gamma[static_cast<std::size_t>(c)];
      double sum_dy = 0, m = 0, v = 0;
      const std::int64_t HW = s.h * s.w, M = s.n * HW;
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t j = 0; j < HW; ++j) {
          sum_dy += w[static_cast<std::size_t>((n * s.c + c) * HW + j)];
          m += xd[static_cast<std::size_t>((n * s.c + c) * HW + j)];
        }
      m /= static_cast<double>(M);
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t j = 0; j < HW; ++j) v += std::pow(xd[static_cast<std::size_t>((n * s.c + c) * HW + j)] - m, 2);
      const double r_c = 1 / std::sqrt(v / static_cast<double>(M) + 1e-5);
      no_norm_term = std::max(no_norm_term, std::abs(fd[i] - r_c * (g * w[i] - g * sum_dy / static_cast<double>(M))));
    }
    INFO("worst |fd - dx| = " << worst << ", largest |fd| = " << largest << ", without the N term: " << no_norm_term);
    CHECK(worst < 1e-4 * std::max(1.0, largest));
    CHECK(no_norm_term > 100 * worst);
    bitsim::test::check_affine_grads(bn, loss, xd, gamma, beta, h);
  }
}

TEST_CASE("graham: N(x) in a Graham format: forward stores L(N(x)), backward is equation (2) on it", "[graham]") {
  const Nchw s{8, 3, 4, 4};
  const std::int64_t HW = s.h * s.w, M = s.n * HW;
  const std::vector<double> gamma = {1.1, -0.7, 0.5}, beta = {0.3, 0.0, -0.2};
  for (const char* name : kGrahamFormats) {
    INFO(name);
    std::mt19937 rng(5);
    const FTensor x = random_tensor(s, rng, -0.4, 2.5), dy = random_tensor(s, rng, 0.1, 1.0);
    BatchNormLayer bn = make_bn(s.c, gamma, beta, name);
    const BnRun r = run_bn(bn, x, dy);
    const bitsim::formats::Quantizer q(bitsim::formats::parse_format(name));
    for (std::int64_t c = 0; c < s.c; ++c) {
      // The documented forward: mean and 1/sqrt(var + eps) in double, to float; x_hat = (x - mu) * r in
      // fp32; then L() by the scalar quantizer (not the array path the layer uses).
      double sum = 0, ss = 0;
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < HW; ++i) sum += x.data[static_cast<std::size_t>((n * s.c + c) * HW + i)];
      const double mean = sum / static_cast<double>(M);
      for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < HW; ++i) ss += std::pow(x.data[static_cast<std::size_t>((n * s.c + c) * HW + i)] - mean, 2);
      const float mu = static_cast<float>(mean), rc = static_cast<float>(1 / std::sqrt(ss / static_cast<double>(M) + 1e-5));
      std::vector<double> L(static_cast<std::size_t>(M)), g_dy(static_cast<std::size_t>(M));
      double mean_gdy = 0, mean_L_gdy = 0;
      const double g = static_cast<float>(gamma[static_cast<std::size_t>(c)]);
      for (std::int64_t n = 0, k = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < HW; ++i, ++k) {
          const auto e = static_cast<std::size_t>((n * s.c + c) * HW + i);
          const float nx = (x.data[e] - mu) * rc;
          L[static_cast<std::size_t>(k)] = static_cast<float>(q.quantize(nx).value);
          CHECK(r.x_hat_after_backward[e] == static_cast<float>(L[static_cast<std::size_t>(k)]));
          g_dy[static_cast<std::size_t>(k)] = g * dy.data[e];
          mean_gdy += g_dy[static_cast<std::size_t>(k)] / static_cast<double>(M);
          mean_L_gdy += L[static_cast<std::size_t>(k)] * g_dy[static_cast<std::size_t>(k)] / static_cast<double>(M);
        }
      double dgamma = 0, dbeta = 0;
      for (std::int64_t n = 0, k = 0; n < s.n; ++n)
        for (std::int64_t i = 0; i < HW; ++i, ++k) {
          const auto e = static_cast<std::size_t>((n * s.c + c) * HW + i);
          const auto kk = static_cast<std::size_t>(k);
          // Equation (2): grad x = (grad N - mean(grad N) - N o mean(N o grad N)) / sqrt(var + eps).
          const double want = (g_dy[kk] - mean_gdy - L[kk] * mean_L_gdy) * rc;
          CHECK(r.dx.data[e] == Approx(want).epsilon(1e-5).margin(1e-6));
          dgamma += dy.data[e] * L[kk];
          dbeta += dy.data[e];
        }
      CHECK(r.dgamma[static_cast<std::size_t>(c)] == Approx(dgamma).epsilon(1e-5).margin(1e-6));
      CHECK(r.dbeta[static_cast<std::size_t>(c)] == Approx(dbeta).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("graham: N(x) kept as packed codes: bytes per value are the format's width, results as fp32 storage", "[graham]") {
  const Nchw s{6, 5, 7, 3};  // 630 values per tensor: not a multiple of 8, so the last byte is partial
  const std::int64_t n = s.numel();
  const std::vector<double> gamma = {1.0, 0.9, -1.2, 0.4, 2.0}, beta = {0.0, 0.1, -0.3, 0.2, 0.5};
  const std::vector<std::string> names = {"graham_L2", "graham_L3", "graham_L4", "graham_L5", "graham_U4",
                                          "graham_U5", "graham_U8", "graham_O4", "fp8_e4m3", "int8", "fp16"};
  for (const std::string& name : names) {
    INFO(name);
    const int width = bitsim::formats::parse_format(name).width();
    std::mt19937 rng(17);
    const FTensor x = random_tensor(s, rng, 1.0, 3.0), dy = random_tensor(s, rng, 0.0, 1.0);
    for (int threads : {1, 2}) {
      BatchNormLayer packed = make_bn(s.c, gamma, beta, name.c_str());
      BatchNormLayer plain = make_bn(s.c, gamma, beta, name.c_str());
      plain.set_store_codes(false);
      CHECK(packed.stored_norm_bits() == width);
      CHECK(plain.stored_norm_bits() == 32);
      const BnRun a = run_bn(packed, x, dy, threads), b = run_bn(plain, x, dy, threads);
      CHECK(same_bits(a.y.data, b.y.data));
      CHECK(same_bits(a.dx.data, b.dx.data));
      CHECK(same_bits(a.dgamma, b.dgamma));
      CHECK(same_bits(a.dbeta, b.dbeta));
      CHECK(same_bits(a.x_hat_after_backward, b.x_hat_after_backward));
      // The memory accounting: w bits per value, packed (w <= 8) or in 16-bit words (9..16).
      CHECK(a.storage.values == n);
      CHECK(a.storage.bits_per_value == width);
      const std::int64_t want_bytes = width <= 8 ? (n * width + 7) / 8 : n * 2;
      CHECK(a.storage.norm_bytes == want_bytes);
      CHECK(a.storage.exceptions == 0);
      CHECK(a.storage.stat_bytes == 2 * s.c * 4);
      CHECK(a.storage.total() == want_bytes + 2 * s.c * 4);
      CHECK(b.storage.bits_per_value == 32);
      CHECK(b.storage.norm_bytes == 4 * n);
      if (width <= 8) {
        // bytes per stored activation, as the paper counts memory: the format's width over 8
        CHECK(static_cast<double>(a.storage.norm_bytes) / static_cast<double>(n) == Approx(width / 8.0).margin(1.0 / static_cast<double>(n)));
      }
    }
  }
  // fp32 storage when N(x) is not rounded to a narrow format; none before a training step.
  BatchNormLayer fp32 = make_bn(s.c, gamma, beta);
  CHECK(fp32.storage().total() == 0);
  CHECK(fp32.stored_norm_bits() == 32);
  std::mt19937 rng(3);
  const BnRun r = run_bn(fp32, random_tensor(s, rng, 0, 1), random_tensor(s, rng, 0, 1));
  CHECK(r.storage.norm_bytes == 4 * n);
}

TEST_CASE("graham: a zero N(x) (a constant channel) has no code in log formats and is kept aside", "[graham]") {
  const Nchw s{4, 2, 2, 2};
  std::mt19937 rng(9);
  FTensor x = random_tensor(s, rng, 0, 1);
  for (std::int64_t k = 0; k < s.n; ++k)  // channel 1 constant: x - mean = 0 exactly
    for (std::int64_t i = 0; i < 4; ++i) x.data[static_cast<std::size_t>((k * 2 + 1) * 4 + i)] = 0.75f;
  const FTensor dy = random_tensor(s, rng, 0, 1);
  for (const char* name : {"graham_L4", "graham_O4", "graham_U4"}) {
    INFO(name);
    BatchNormLayer packed = make_bn(2, {1.5, 0.5}, {0.1, -0.2}, name), plain = make_bn(2, {1.5, 0.5}, {0.1, -0.2}, name);
    plain.set_store_codes(false);
    const BnRun a = run_bn(packed, x, dy), b = run_bn(plain, x, dy);
    CHECK(same_bits(a.dx.data, b.dx.data));
    CHECK(same_bits(a.dgamma, b.dgamma));
    CHECK(same_bits(a.x_hat_after_backward, b.x_hat_after_backward));
    const bool midrise = std::string(name) == "graham_U4";  // no zero value: 0 rounds to 1/(2s)
    CHECK(a.storage.exceptions == (midrise ? 0 : 16));
    CHECK(a.storage.exception_bytes == 8 * a.storage.exceptions);
    for (std::int64_t k = 0; k < s.n; ++k)
      for (std::int64_t i = 0; i < 4; ++i) {
        const float v = a.x_hat_after_backward[static_cast<std::size_t>((k * 2 + 1) * 4 + i)];
        CHECK(v == (midrise ? 0.25f : 0.0f));
      }
  }
}

TEST_CASE("graham: which batch norms are quantized: all, all but the first, by index range", "[graham][train]") {
  auto quantized = [](const std::string& overrides) {
    const train::TrainConfig c = train::parse_config("[model]\nname = \"cnn\"\nwidth = 4\n" + overrides, "test.toml");
    Model m = build_model(builtin_model("cnn", 10, 4), Nchw{1, 1, 28, 28}, train::LayerConfigurator(c));
    std::string bits;
    for (auto& node : m.nodes())
      if (auto* bn = dynamic_cast<BatchNormLayer*>(node.layer.get()))
        bits += std::to_string(bn->stored_norm_bits()) + " ";
    return bits;
  };
  const std::string bn = "[[formats.override]]\nkinds = [\"batchnorm\"]\nBN_NORM = \"graham_L4\"\n";
  CHECK(quantized("[formats]\nBN_NORM = \"graham_L5\"\n") == "5 5 5 5 ");
  CHECK(quantized(bn) == "4 4 4 4 ");
  CHECK(quantized(bn + "index = \"1:\"\n") == "32 4 4 4 ");
  CHECK(quantized(bn + "index = \"0:2\"\n") == "4 4 32 32 ");
  CHECK(quantized(bn + "index = \":3\"\n") == "4 4 4 32 ");
  CHECK(quantized(bn + "index = 3\n") == "32 32 32 4 ");
  CHECK(quantized(bn + "index = \"2\"\n") == "32 32 4 32 ");
  CHECK(quantized(bn + "index = \"7:\"\n") == "32 32 32 32 ");
  // Positions count the layers an override matches: layers = ["bn*"] matches the same four.
  CHECK(quantized("[[formats.override]]\nlayers = [\"bn*\"]\nindex = \"1:3\"\nBN_NORM = \"graham_U8\"\n") == "32 8 8 32 ");
  // A later override wins key by key, also against an index-selected one.
  CHECK(quantized(bn + "index = \"1:\"\n[[formats.override]]\nlayers = [\"bn4\"]\nBN_NORM = \"graham_U8\"\n") == "32 4 4 8 ");
  // The index survives the resolved config (the resume identity).
  const train::TrainConfig c = train::parse_config("[[formats.override]]\nkinds = [\"batchnorm\"]\nindex = \"1:\"\nBN_NORM = \"graham_L4\"\n", "t.toml");
  CHECK_THAT(train::to_toml(c), Catch::Contains("index = \"1:\""));
  CHECK(train::to_toml(train::parse_config(train::to_toml(c), "again.toml")) == train::to_toml(c));
  // Errors name the file, line and key.
  auto err = [&](const std::string& index) {
    try {
      (void)train::parse_config(bn + "index = " + index + "\n", "bad.toml");
    } catch (const train::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err("\"2:1\""), Catch::Contains("bad.toml:4: key 'formats.override[0].index'") && Catch::Contains("empty"));
  CHECK_THAT(err("-1"), Catch::Contains("bad.toml:4: key 'formats.override[0].index'"));
  CHECK_THAT(err("\"a:\""), Catch::Contains("must be a position or a range"));
  CHECK_THAT(err("\"1:2:3\""), Catch::Contains("must be a position or a range"));
  CHECK_THAT(err("1.5"), Catch::Contains("must be a position or a range"));
  // One layer outside a model has no position.
  const train::TrainConfig ci = train::parse_config(bn + "index = \"1:\"\n", "i.toml");
  BatchNormLayer one(BatchNormSpec{2});
  one.name = "bn1";
  CHECK_THROWS_WITH(train::configure_layer(ci, one), Catch::Contains("needs the model's layer order"));
}

TEST_CASE("graham: smoke run with L4 in every batch norm but the first lowers the loss", "[graham][train]") {
  const bitsim::test::SmokeRun run = bitsim::test::smoke_run(BITSIM_SOURCE_DIR "/experiments/graham2017/cnn_L4_all_but_first.toml");
  REQUIRE(run.train_loss.size() == 2);
  CHECK(run.train_loss[1] < run.train_loss[0]);
  CHECK(std::isfinite(run.result.test_loss));
  // model.txt: bn1 fp32, bn2..bn4 stored in 4 bits.
  CHECK(run.model_txt.find("N(x)-stored-4-bit") != std::string::npos);
  std::size_t count = 0;
  for (std::size_t p = run.model_txt.find("N(x)-stored-4-bit"); p != std::string::npos; p = run.model_txt.find("N(x)-stored-4-bit", p + 1)) ++count;
  CHECK(count == 3);
  const std::size_t bn1 = run.model_txt.find(" bn1 ");
  REQUIRE(bn1 != std::string::npos);
  CHECK(run.model_txt.substr(bn1, run.model_txt.find('\n', bn1) - bn1).find("graham") == std::string::npos);
}
