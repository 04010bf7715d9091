// Training-engine layers (sim/nn/) against the reference kernels, bit for bit: ConvLayer against
// conv2d_forward / conv2d_backward_input / conv2d_backward_weight / conv2d_backward_bias, LinearLayer
// against gemm(), the pooling layers against max_pool2d_*, avg_pool2d_* and global_avg_pool_*, each
// with GemmSetup::config(), for the engine's own fp32 kernel (the default setup) and for setups that
// take the fallback path; results independent of the thread count; role roundings (W, A, E, G, sr
// reproducibility, formats that do not fit float). The fp64 gradient checks of the layers share their
// plain-loop reference with the whole-network check and are in test_nn_model.cpp.
#include "sim/nn/layers/batchnorm_layer.hpp"
#include "sim/nn/layers/conv_layer.hpp"
#include "sim/nn/layers/linear_layer.hpp"
#include "sim/nn/layers/simple_layers.hpp"

#include "formats/format.hpp"
#include "formats/quantizer.hpp"
#include "sim/kernels/conv2d.hpp"
#include "sim/kernels/conv_kernels.hpp"
#include "sim/kernels/elementwise.hpp"
#include "sim/kernels/gemm.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <limits>
#include <vector>

using namespace bitsim::sim;
using namespace bitsim::sim::nn;
using bitsim::formats::parse_format;
using bitsim::formats::Rounding;
using bitsim::formats::RoundingSpec;

namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// N(0, sigma^2) values, about 1 in 12 of them replaced by -0 (the sign of zero is part of the result).
void fill_random(FTensor& t, std::mt19937& rng, double sigma = 1.0, bool negative_zeros = true) {
  std::normal_distribution<double> nd(0.0, sigma);
  std::uniform_int_distribution<int> pick(0, 11);
  for (float& v : t.data) v = negative_zeros && pick(rng) == 0 ? -0.0f : static_cast<float>(nd(rng));
}

FTensor random_tensor(Nchw s, std::mt19937& rng, double sigma = 1.0, bool negative_zeros = true) {
  FTensor t(s);
  fill_random(t, rng, sigma, negative_zeros);
  return t;
}

NchwArray to_nchw(const FTensor& t) { return NchwArray(t.shape, std::vector<double>(t.data.begin(), t.data.end())); }

void forward(Layer& l, const StepContext& ctx, const FTensor& x, FTensor& y) {
  const FTensor* in[1] = {&x};
  l.forward(ctx, std::span<const FTensor* const>(in, 1), y);
}

void backward(Layer& l, const StepContext& ctx, const FTensor& dy, FTensor* dx) {
  FTensor* out[1] = {dx};
  l.backward(ctx, dy, std::span<FTensor* const>(out, 1));
}

// Every value of `got` has the bits of the float of `want` (whose values must be floats).
void check_same(std::span<const float> got, std::span<const double> want, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = 0, not_float = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const float w = static_cast<float>(want[i]);
    if (!(std::isnan(want[i]) || static_cast<double>(w) == want[i])) ++not_float;  // the reference's outputs are fp32
    if (!same_bits(got[i], w)) {
      if (bad == 0) first = i;
      ++bad;
    }
  }
  if (bad) {
    INFO("first mismatch at " << first << ": engine " << got[first] << " (signbit " << std::signbit(got[first])
                              << "), reference " << want[first] << " (signbit " << std::signbit(want[first]) << ")");
    CHECK(bad == 0);
  }
  CHECK(not_float == 0);
}

void check_same(const FTensor& got, const NchwArray& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape == want.shape);
  check_same(got.span(), want.data, what);
}

void check_same(const FTensor& got, const FTensor& want, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape == want.shape);
  check_same(got.span(), std::vector<double>(want.data.begin(), want.data.end()), what);
}

GemmSetup setup_fp16_sequential() {
  GemmSetup s;
  s.acc = parse_format("fp16");
  return s;
}

GemmSetup setup_fp32_pairwise() {
  GemmSetup s;
  s.order = AccOrder::pairwise;
  return s;
}

OutSpec fp32_out() {
  OutSpec o;
  o.format = parse_format("fp32");
  return o;
}

// ---- convolution ---------------------------------------------------------------------------------
struct ConvCase {
  std::int64_t n, c, h, w, co, k, stride, pad;
  bool bias;
};

std::string describe(const ConvCase& t) {
  return "x [" + std::to_string(t.n) + "," + std::to_string(t.c) + "," + std::to_string(t.h) + "," + std::to_string(t.w) +
         "] co " + std::to_string(t.co) + " k " + std::to_string(t.k) + " stride " + std::to_string(t.stride) + " pad " +
         std::to_string(t.pad) + (t.bias ? " bias" : "");
}

// Kernel 1 and 3, stride 1 and 2, pad 0 and 1, odd sizes, channel counts off multiples of 8 and 32,
// batch 1..5; positions per image (P) and weight-gradient columns (K) on both sides of the panel width.
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> c = {
      {1, 3, 7, 9, 5, 3, 1, 1, true},   {2, 5, 7, 9, 17, 3, 2, 0, false}, {3, 17, 5, 6, 33, 1, 1, 0, true},
      {5, 33, 6, 5, 3, 1, 2, 1, true},  {4, 3, 9, 7, 8, 3, 2, 1, false},  {2, 33, 8, 8, 40, 3, 1, 1, true},
      {3, 5, 7, 9, 33, 3, 2, 1, true},  {1, 1, 3, 3, 1, 3, 1, 0, true},
      // Stride 3, a 5x5 kernel at stride 2, an image smaller than the stride (the input gradient's
      // phases, conv_kernels.cpp backward_input_by_phase).
      {2, 4, 8, 7, 6, 3, 3, 1, false},  {2, 3, 9, 8, 4, 5, 2, 2, false}, {1, 2, 1, 1, 3, 3, 2, 1, false},
  };
  return c;
}

Conv2dParams conv_params(const ConvCase& t) { return Conv2dParams{t.stride, t.stride, t.pad, t.pad, 1, 1, 1}; }

struct ConvRun {
  FTensor x, dy, y, dx;
  std::vector<FTensor> grads;  // weight (, bias)
  std::vector<FTensor> params;
};

// Runs one forward and backward of a ConvLayer on random data (seeded), with an all -0 image when the
// batch has at least 3 and an all -0 output channel in dy (zero dot products: the sign of their zero).
ConvRun run_conv(const ConvCase& t, const GemmSetup& setup, int threads, unsigned seed) {
  std::mt19937 rng(seed);
  ConvSpec spec;
  spec.in_channels = t.c;
  spec.out_channels = t.co;
  spec.kernel_h = spec.kernel_w = t.k;
  spec.stride = t.stride;
  spec.pad = t.pad;
  spec.bias = t.bias;
  ConvLayer layer(spec);
  layer.name = "conv";
  layer.gemm = setup;
  ConvRun r;
  for (Param* p : layer.params()) {
    fill_random(p->value, rng, 0.3);
    r.params.push_back(p->value);
  }
  StepContext ctx;
  ctx.threads = threads;
  layer.round_weights(ctx);
  r.x = random_tensor(Nchw{t.n, t.c, t.h, t.w}, rng);
  if (t.n >= 3) {
    const std::int64_t per = t.c * t.h * t.w;
    for (std::int64_t i = 0; i < per; ++i) r.x.data[static_cast<std::size_t>((t.n - 1) * per + i)] = -0.0f;
  }
  forward(layer, ctx, r.x, r.y);
  r.dy = random_tensor(r.y.shape, rng);
  const std::int64_t plane = r.y.shape.h * r.y.shape.w;
  for (std::int64_t n = 0; n < t.n; ++n)
    for (std::int64_t i = 0; i < plane; ++i) r.dy.data[static_cast<std::size_t>(n * t.co * plane + i)] = -0.0f;
  backward(layer, ctx, r.dy, &r.dx);
  for (Param* p : layer.params()) r.grads.push_back(p->grad);
  return r;
}

void check_conv_against_reference(const ConvCase& t, const GemmSetup& setup, unsigned seed) {
  INFO(describe(t) << ", setup " << setup.describe());
  const ConvRun r = run_conv(t, setup, 1, seed);
  const GemmConfig cfg = setup.config();
  const Conv2dParams p = conv_params(t);
  const NchwArray x = to_nchw(r.x), w = to_nchw(r.params[0]), dy = to_nchw(r.dy);
  std::vector<double> bias;
  if (t.bias) bias.assign(r.params[1].data.begin(), r.params[1].data.end());
  check_same(r.y, conv2d_forward(cfg, x, w, p, 1, bias), "forward");
  check_same(r.dx, conv2d_backward_input(cfg, dy, w, x.shape, p), "input gradient");
  check_same(r.grads[0], conv2d_backward_weight(cfg, x, dy, w.shape, p), "weight gradient");
  if (t.bias) {
    REQUIRE(r.grads.size() == 2);
    check_same(r.grads[1].span(), conv2d_backward_bias(cfg, dy), "bias gradient");
  }
}

// ---- linear --------------------------------------------------------------------------------------
struct LinearCase {
  Nchw x;
  std::int64_t out;
  bool bias;
};

struct LinearRun {
  FTensor x, dy, y, dx;
  std::vector<FTensor> params, grads;
};

LinearRun run_linear(const LinearCase& t, const GemmSetup& setup, int threads, unsigned seed) {
  std::mt19937 rng(seed);
  LinearSpec spec;
  spec.in_features = t.x.c * t.x.h * t.x.w;
  spec.out_features = t.out;
  spec.bias = t.bias;
  LinearLayer layer(spec);
  layer.name = "fc";
  layer.gemm = setup;
  LinearRun r;
  for (Param* p : layer.params()) {
    fill_random(p->value, rng, 0.3);
    r.params.push_back(p->value);
  }
  StepContext ctx;
  ctx.threads = threads;
  layer.round_weights(ctx);
  r.x = random_tensor(t.x, rng);
  forward(layer, ctx, r.x, r.y);
  r.dy = random_tensor(r.y.shape, rng);
  for (std::int64_t n = 0; n < t.x.n; ++n) r.dy.data[static_cast<std::size_t>(n * t.out)] = -0.0f;  // column 0 all -0
  backward(layer, ctx, r.dy, &r.dx);
  for (Param* p : layer.params()) r.grads.push_back(p->grad);
  return r;
}

Matrix matrix(std::int64_t rows, std::int64_t cols, const std::vector<float>& v, bool transpose = false) {
  // v holds a row-major (transpose ? cols x rows : rows x cols) array.
  Matrix m(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      m(i, j) = transpose ? v[static_cast<std::size_t>(j * rows + i)] : v[static_cast<std::size_t>(i * cols + j)];
  return m;
}

Matrix ones_column(std::int64_t n) {
  Matrix ones(n, 1);
  for (std::int64_t i = 0; i < n; ++i) ones(i, 0) = 1.0;
  return ones;
}

void check_linear_against_reference(const LinearCase& t, const GemmSetup& setup, unsigned seed) {
  INFO("x " << t.x.to_string() << " out " << t.out << (t.bias ? " bias" : "") << ", setup " << setup.describe());
  const LinearRun r = run_linear(t, setup, 1, seed);
  const GemmConfig cfg = setup.config();
  const std::int64_t N = t.x.n, F = t.x.c * t.x.h * t.x.w, O = t.out;
  const Matrix X = matrix(N, F, r.x.data), Wt = matrix(F, O, r.params[0].data, true), W = matrix(O, F, r.params[0].data);
  const Matrix dY = matrix(N, O, r.dy.data), dYt = matrix(O, N, r.dy.data, true);
  // forward: x W^T, then the bias with one fp32 addition (the double sum of two floats rounded to float
  // is the correctly rounded float sum).
  std::vector<double> y = gemm(cfg, X, Wt).values.data;
  if (t.bias)
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t o = 0; o < O; ++o) {
        double& v = y[static_cast<std::size_t>(n * O + o)];
        v = static_cast<float>(v + static_cast<double>(r.params[1].data[static_cast<std::size_t>(o)]));
      }
  check_same(r.y.span(), y, "forward");
  check_same(r.dx.span(), gemm(cfg, dY, W).values.data, "input gradient");
  check_same(r.grads[0].span(), gemm(cfg, dYt, X).values.data, "weight gradient");
  if (t.bias) {
    // linear_layer.hpp: db = dy^T times a column of ones under the layer's setup.
    check_same(r.grads[1].span(), gemm(cfg, dYt, ones_column(N)).values.data, "bias gradient");
    if (setup.is_fast()) {
      // For the default setup that is fp32 additions from +0 (a float sum computed in double and
      // rounded to float is the correctly rounded float sum).
      std::vector<double> db(static_cast<std::size_t>(O));
      for (std::int64_t o = 0; o < O; ++o) {
        float acc = 0.0f;
        for (std::int64_t n = 0; n < N; ++n) acc = static_cast<float>(static_cast<double>(acc) + dY(n, o));
        db[static_cast<std::size_t>(o)] = acc;
      }
      check_same(r.grads[1].span(), db, "bias gradient (fp32 additions)");
    }
  }
  CHECK(r.dx.shape == t.x);
}

const std::vector<LinearCase>& linear_cases() {
  static const std::vector<LinearCase> c = {
      {{1, 3, 1, 1}, 2, true}, {{5, 37, 1, 1}, 33, true}, {{4, 3, 2, 3}, 40, false}, {{30, 70, 1, 1}, 40, true},
      {{2, 65, 1, 1}, 100, true},
  };
  return c;
}

// How an engine result compares with the reference's: `nans` elements where the reference is NaN,
// `bad` elements that differ (a non-NaN where the reference is NaN, or other bits elsewhere).
struct NanAgreement {
  std::size_t nans = 0, bad = 0;
};
NanAgreement compare_with_nans(const FTensor& got, const NchwArray& want) {
  REQUIRE(got.data.size() == want.data.size());
  NanAgreement m;
  for (std::size_t i = 0; i < want.data.size(); ++i) {
    if (std::isnan(want.data[i])) {
      ++m.nans;
      m.bad += !std::isnan(got.data[i]);
    } else {
      m.bad += !same_bits(got.data[i], static_cast<float>(want.data[i]));
    }
  }
  return m;
}

}  // namespace

// ---- 1. bit identity with the reference kernels --------------------------------------------------

TEST_CASE("nn: ConvLayer equals the conv2d reference kernels bit for bit (engine kernel)", "[nn]") {
  const GemmSetup setup;
  REQUIRE(setup.is_fast());
  unsigned seed = 100;
  for (const ConvCase& t : conv_cases()) check_conv_against_reference(t, setup, seed++);
}

TEST_CASE("nn: a strided input gradient with an infinite weight is NaN where the reference's is", "[nn]") {
  // The phase split of the strided input gradient drops terms 0 * w, which is exact only for finite
  // w; with an infinite weight the engine keeps every term, so 0 * Inf gives NaN where it does in the
  // documented dot products.
  const GemmSetup setup;
  for (const std::int64_t stride : {2, 3}) {
    INFO("stride " << stride);
    const Nchw xs{2, 3, 7, 6}, ws{4, 3, 3, 3};
    const Conv2dParams p{stride, stride, 1, 1, 1, 1, 1};
    std::mt19937 rng(9);
    FTensor w = random_tensor(ws, rng), dy = random_tensor(conv2d_output_shape(xs, ws, p), rng), dx;
    w.data[5] = std::numeric_limits<float>::infinity();
    ConvKernels kernels;
    kernels.backward_input(setup, dy, w, xs, p, dx, 1);
    const NchwArray want = conv2d_backward_input(setup.config(), to_nchw(dy), to_nchw(w), xs, p);
    const NanAgreement m = compare_with_nans(dx, want);
    CHECK(m.nans > 0);
    CHECK(m.bad == 0);
  }
}

TEST_CASE("nn: a weight gradient with an infinite input value is NaN where the reference's is", "[nn]") {
  // The weight gradient read in place from the padded image (stride 1) multiplies x by the +0 that
  // pads dy's extra columns, exact only for finite x; with an infinite x the engine keeps to im2col's
  // terms, so 0 * Inf gives NaN exactly where it does in the documented dot products.
  const GemmSetup setup;
  for (const std::int64_t stride : {1, 2, 3}) {
    INFO("stride " << stride);
    const Nchw xs{2, 3, 8, 7}, ws{4, 3, 3, 3};
    const Conv2dParams p{stride, stride, 1, 1, 1, 1, 1};
    std::mt19937 rng(11);
    FTensor x = random_tensor(xs, rng), dy = random_tensor(conv2d_output_shape(xs, ws, p), rng), dw;
    x.data[2 * 7 + 6] = std::numeric_limits<float>::infinity();  // row 2, last column: read in the extra columns
    ConvKernels kernels;
    kernels.backward_weight(setup, x, dy, ws, p, dw, nullptr, 1);
    const NchwArray want = conv2d_backward_weight(setup.config(), to_nchw(x), to_nchw(dy), ws, p);
    const NanAgreement m = compare_with_nans(dw, want);
    CHECK(m.bad == 0);
    CHECK(m.nans < want.data.size());  // the finite elements are compared too
  }
}

TEST_CASE("nn: ConvLayer equals the conv2d reference kernels bit for bit (fallback setups)", "[nn]") {
  for (const GemmSetup& setup : {setup_fp16_sequential(), setup_fp32_pairwise()}) {
    REQUIRE_FALSE(setup.is_fast());
    unsigned seed = 200;
    for (const ConvCase& t : conv_cases()) check_conv_against_reference(t, setup, seed++);
  }
}

TEST_CASE("nn: LinearLayer equals gemm() bit for bit", "[nn]") {
  unsigned seed = 300;
  for (const GemmSetup& setup : {GemmSetup(), setup_fp16_sequential(), setup_fp32_pairwise()})
    for (const LinearCase& t : linear_cases()) check_linear_against_reference(t, setup, seed++);
}

// The linear and conv bias gradients agree under any setup (both are dy summed by the setup).
TEST_CASE("nn: LinearLayer bias gradient follows the GemmSetup like ConvLayer's", "[nn]") {
  unsigned seed = 350;
  for (const GemmSetup& setup : {setup_fp16_sequential(), setup_fp32_pairwise()})
    for (const LinearCase& t : linear_cases()) {
      if (!t.bias) continue;
      INFO("x " << t.x.to_string() << " out " << t.out << ", setup " << setup.describe());
      const LinearRun r = run_linear(t, setup, 1, seed++);
      const std::int64_t N = t.x.n, O = t.out;
      // The same dy through a 1x1 ConvLayer's reference bias gradient: dy as [N, O, 1, 1].
      const NchwArray dy(Nchw{N, O, 1, 1}, std::vector<double>(r.dy.data.begin(), r.dy.data.end()));
      check_same(r.grads[1].span(), conv2d_backward_bias(setup.config(), dy), "bias gradient");
    }
}

TEST_CASE("nn: pooling layers equal the reference pooling kernels bit for bit", "[nn]") {
  const GemmConfig cfg = GemmSetup().config();
  std::mt19937 rng(400);
  // Values on a coarse grid (many ties, +0 and -0 among them) and ordinary random values.
  auto make_x = [&](Nchw s, bool ties) {
    FTensor x(s);
    std::uniform_int_distribution<int> grid(-3, 3);
    std::uniform_int_distribution<int> sign(0, 1);
    if (ties) {
      for (float& v : x.data) {
        v = 0.5f * static_cast<float>(grid(rng));
        if (v == 0.0f && sign(rng)) v = -0.0f;
      }
    } else {
      fill_random(x, rng);
    }
    return x;
  };
  struct PoolCase {
    std::int64_t k, s, p;
  };
  const PoolCase cases[] = {{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 1, 0}, {3, 3, 0}, {1, 1, 0}};
  for (const Nchw xs : {Nchw{2, 3, 7, 9}, Nchw{3, 5, 6, 5}, Nchw{1, 1, 4, 4}})
    for (const PoolCase& pc : cases)
      for (bool ties : {false, true}) {
        INFO("x " << xs.to_string() << " kernel " << pc.k << " stride " << pc.s << " pad " << pc.p << (ties ? " ties" : ""));
        const FTensor x = make_x(xs, ties);
        const Pool2dParams pp{pc.k, pc.k, pc.s, pc.s, pc.p, pc.p};
        const PoolSpec spec{pc.k, pc.s, pc.p, false};
        StepContext ctx;
        {
          MaxPoolLayer layer(spec);
          layer.name = "pool";
          FTensor y, dx;
          forward(layer, ctx, x, y);
          const MaxPoolResult ref = max_pool2d_forward(fp32_out(), to_nchw(x), pp);
          check_same(y, ref.y, "maxpool forward");
          const FTensor dy = make_x(y.shape, ties);
          backward(layer, ctx, dy, &dx);
          check_same(dx, max_pool2d_backward(cfg, to_nchw(dy), ref.argmax, xs, pp), "maxpool backward");
        }
        {
          AvgPoolLayer layer(spec);
          layer.name = "avgpool";
          FTensor y, dx;
          forward(layer, ctx, x, y);
          check_same(y, avg_pool2d_forward(cfg, to_nchw(x), pp), "avgpool forward");
          const FTensor dy = make_x(y.shape, ties);
          backward(layer, ctx, dy, &dx);
          check_same(dx, avg_pool2d_backward(cfg, to_nchw(dy), xs, pp), "avgpool backward");
        }
      }
  for (const Nchw xs : {Nchw{2, 3, 7, 9}, Nchw{4, 17, 3, 3}, Nchw{1, 2, 1, 1}, Nchw{2, 2, 8, 8}}) {
    INFO("gap, x " << xs.to_string());
    AvgPoolLayer layer(PoolSpec{2, 2, 0, true});
    layer.name = "gap";
    CHECK(std::string(layer.kind()) == "gap");
    StepContext ctx;
    const FTensor x = make_x(xs, false);
    FTensor y, dx;
    forward(layer, ctx, x, y);
    CHECK(y.shape == (Nchw{xs.n, xs.c, 1, 1}));
    check_same(y, global_avg_pool_forward(cfg, to_nchw(x)), "gap forward");
    const FTensor dy = make_x(y.shape, false);
    backward(layer, ctx, dy, &dx);
    check_same(dx, global_avg_pool_backward(cfg, to_nchw(dy), xs), "gap backward");
  }
}

// simple_layers.hpp: under a non-default GemmSetup, average pooling and GAP are the reference kernels
// (avg_pool2d_* / global_avg_pool_*) with GemmSetup::config().
TEST_CASE("nn: average pooling and GAP follow a non-default GemmSetup", "[nn]") {
  const GemmSetup setup = setup_fp16_sequential();
  const GemmConfig cfg = setup.config();
  std::mt19937 rng(450);
  const FTensor x = random_tensor(Nchw{2, 3, 7, 9}, rng, 1.0, false);
  StepContext ctx;
  {
    const Pool2dParams pp{3, 3, 2, 2, 1, 1};
    AvgPoolLayer layer(PoolSpec{3, 2, 1, false});
    layer.name = "avgpool";
    layer.gemm = setup;
    FTensor y, dx;
    forward(layer, ctx, x, y);
    check_same(y, avg_pool2d_forward(cfg, to_nchw(x), pp), "avgpool forward, fp16 accumulator");
    const FTensor dy = random_tensor(y.shape, rng, 1.0, false);
    backward(layer, ctx, dy, &dx);
    check_same(dx, avg_pool2d_backward(cfg, to_nchw(dy), x.shape, pp), "avgpool backward, fp16 accumulator");
  }
  {
    AvgPoolLayer layer(PoolSpec{2, 2, 0, true});
    layer.name = "gap";
    layer.gemm = setup;
    FTensor y;
    forward(layer, ctx, x, y);
    check_same(y, global_avg_pool_forward(cfg, to_nchw(x)), "gap forward, fp16 accumulator");
  }
}

// ---- 2. thread-count independence ----------------------------------------------------------------

TEST_CASE("nn: conv, linear, batchnorm and pooling results do not depend on the thread count", "[nn]") {
  SECTION("conv") {
    for (const GemmSetup& setup : {GemmSetup(), setup_fp16_sequential()}) {
      unsigned seed = 500;
      for (const ConvCase& t : conv_cases()) {
        INFO(describe(t) << ", setup " << setup.describe());
        const ConvRun one = run_conv(t, setup, 1, seed);
        for (int threads : {2, 3}) {
          INFO("threads " << threads);
          const ConvRun r = run_conv(t, setup, threads, seed);
          check_same(r.y, one.y, "forward");
          check_same(r.dx, one.dx, "input gradient");
          for (std::size_t i = 0; i < one.grads.size(); ++i) check_same(r.grads[i], one.grads[i], "parameter gradient");
        }
        ++seed;
      }
    }
  }
  SECTION("linear") {
    for (const GemmSetup& setup : {GemmSetup(), setup_fp32_pairwise()}) {
      unsigned seed = 600;
      for (const LinearCase& t : linear_cases()) {
        INFO("x " << t.x.to_string() << " out " << t.out << ", setup " << setup.describe());
        const LinearRun one = run_linear(t, setup, 1, seed);
        for (int threads : {2, 3}) {
          INFO("threads " << threads);
          const LinearRun r = run_linear(t, setup, threads, seed);
          check_same(r.y, one.y, "forward");
          check_same(r.dx, one.dx, "input gradient");
          for (std::size_t i = 0; i < one.grads.size(); ++i) check_same(r.grads[i], one.grads[i], "parameter gradient");
        }
        ++seed;
      }
    }
  }
  SECTION("batchnorm") {
    for (const Nchw xs : {Nchw{5, 6, 3, 4}, Nchw{7, 3, 1, 1}, Nchw{2, 17, 5, 5}}) {
      INFO("x " << xs.to_string());
      auto run = [&](int threads, std::vector<FTensor>& outs) {
        std::mt19937 rng(700);
        BatchNormLayer layer(BatchNormSpec{xs.c, 1e-5, 0.1});
        layer.name = "bn";
        for (Param* p : layer.params()) fill_random(p->value, rng, 1.0, false);
        StepContext ctx;
        ctx.threads = threads;
        layer.round_weights(ctx);
        const FTensor x = random_tensor(xs, rng);
        FTensor y, dx;
        forward(layer, ctx, x, y);
        const FTensor dy = random_tensor(xs, rng);
        backward(layer, ctx, dy, &dx);
        outs = {y, dx, layer.normalized()};
        for (Param* p : layer.params()) outs.push_back(p->grad);
        for (FTensor* b : layer.buffers()) outs.push_back(*b);
      };
      std::vector<FTensor> one, other;
      run(1, one);
      for (int threads : {2, 3}) {
        INFO("threads " << threads);
        run(threads, other);
        REQUIRE(other.size() == one.size());
        for (std::size_t i = 0; i < one.size(); ++i) check_same(other[i], one[i], "output " + std::to_string(i));
      }
    }
  }
  SECTION("pooling") {
    std::mt19937 rng(800);
    const FTensor x = random_tensor(Nchw{3, 5, 7, 9}, rng);
    for (const PoolSpec spec : {PoolSpec{3, 2, 1, false}, PoolSpec{2, 2, 0, true}})
      for (bool max : {true, false}) {
        if (max && spec.global) continue;
        auto run = [&](int threads, FTensor& y, FTensor& dx) {
          std::unique_ptr<Layer> layer;
          if (max) layer = std::make_unique<MaxPoolLayer>(spec);
          else layer = std::make_unique<AvgPoolLayer>(spec);
          StepContext ctx;
          ctx.threads = threads;
          forward(*layer, ctx, x, y);
          std::mt19937 r2(801);
          const FTensor dy = random_tensor(y.shape, r2);
          backward(*layer, ctx, dy, &dx);
        };
        FTensor y1, dx1, y, dx;
        run(1, y1, dx1);
        for (int threads : {2, 3}) {
          run(threads, y, dx);
          check_same(y, y1, "pool forward");
          check_same(dx, dx1, "pool backward");
        }
      }
  }
}

// ---- 6. roles --------------------------------------------------------------------------------------

namespace {

const bitsim::formats::Format& e4m3() {
  static const bitsim::formats::Format f = parse_format("fp8_e4m3");
  return f;
}

// Whether every value is a value of fp8_e4m3: quantizing again (rne) changes nothing.
bool all_e4m3(std::span<const float> v) {
  const bitsim::formats::Quantizer q(e4m3());
  std::vector<float> again(v.size());
  q.quantize(v, again);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!same_bits(v[i], again[i])) return false;
  return true;
}

std::vector<float> e4m3_rne(std::span<const float> v) {
  const bitsim::formats::Quantizer q(e4m3());
  std::vector<float> r(v.size());
  q.quantize(v, r);
  return r;
}

bool identical(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i])) return false;
  return true;
}

struct RoleRun {
  std::vector<FTensor> used, grads;
  FTensor y, dx;
};

// A 3x3 conv with bias on [2, 3, 5, 5]: stored weights and data from `seed`, roles from `roles`.
RoleRun run_conv_roles(const RoleSet& roles, const StepContext& ctx, unsigned seed = 900) {
  std::mt19937 rng(seed);
  ConvLayer layer(ConvSpec{3, 4, 3, 3, 1, 1, true});
  layer.name = "conv";
  layer.roles = roles;
  for (Param* p : layer.params()) fill_random(p->value, rng, 0.4, false);
  layer.round_weights(ctx);
  RoleRun r;
  for (Param* p : layer.params()) r.used.push_back(p->used());
  const FTensor x = random_tensor(Nchw{2, 3, 5, 5}, rng, 1.0, false);
  forward(layer, ctx, x, r.y);
  const FTensor dy = random_tensor(r.y.shape, rng, 0.5, false);
  backward(layer, ctx, dy, &r.dx);
  for (Param* p : layer.params()) r.grads.push_back(p->grad);
  return r;
}

}  // namespace

TEST_CASE("nn: role W, A, G, E roundings with fp8_e4m3 (rne)", "[nn]") {
  const RoleRounding fp8(e4m3(), RoundingSpec{});
  CHECK_FALSE(fp8.is_identity());
  CHECK_FALSE(fp8.is_stochastic());
  CHECK(RoleRounding().is_identity());
  StepContext ctx;
  const RoleSet plain;
  RoleSet w_only;
  w_only[Role::W] = fp8;
  RoleSet all;
  for (Role r : {Role::W, Role::A, Role::G, Role::E}) all[r] = fp8;

  const RoleRun ref = run_conv_roles(plain, ctx);
  const RoleRun w = run_conv_roles(w_only, ctx);
  const RoleRun a = run_conv_roles(all, ctx);
  for (std::size_t i = 0; i < w.used.size(); ++i) {
    INFO("parameter " << i);
    CHECK(all_e4m3(w.used[i].span()));
    // used() is the stored value rounded to W; the stored value is not changed.
    CHECK(identical(w.used[i].span(), e4m3_rne(ref.used[i].span())));
    CHECK_FALSE(identical(w.used[i].span(), ref.used[i].span()));
  }
  CHECK_FALSE(all_e4m3(w.y.span()));  // A not set: the output stays fp32
  // With A, E and G set, each of those tensors is the fp32 result with the same operands rounded to fp8.
  CHECK(all_e4m3(a.y.span()));
  CHECK(identical(a.y.span(), e4m3_rne(w.y.span())));
  CHECK(all_e4m3(a.dx.span()));
  CHECK(identical(a.dx.span(), e4m3_rne(w.dx.span())));
  for (std::size_t i = 0; i < a.grads.size(); ++i) {
    CHECK(all_e4m3(a.grads[i].span()));
    CHECK(identical(a.grads[i].span(), e4m3_rne(w.grads[i].span())));
  }

  SECTION("a parameter-free layer rounds its output to A and its input gradient to E") {
    ReluLayer relu;
    relu.name = "relu";
    relu.roles[Role::A] = fp8;
    relu.roles[Role::E] = fp8;
    std::mt19937 rng(901);
    const FTensor x = random_tensor(Nchw{2, 3, 4, 4}, rng, 1.0, false), dy = random_tensor(Nchw{2, 3, 4, 4}, rng, 1.0, false);
    FTensor y, dx;
    forward(relu, ctx, x, y);
    backward(relu, ctx, dy, &dx);
    std::vector<float> want_y(x.data.size()), want_dx(x.data.size());
    for (std::size_t i = 0; i < x.data.size(); ++i) {
      want_y[i] = x.data[i] > 0 ? x.data[i] : 0.0f;
      want_dx[i] = x.data[i] > 0 ? dy.data[i] : 0.0f;
    }
    CHECK(identical(y.span(), e4m3_rne(want_y)));
    CHECK(identical(dx.span(), e4m3_rne(want_dx)));
  }
}

TEST_CASE("nn: stochastic rounding of roles is reproducible per seed and step", "[nn]") {
  const RoleRounding sr(e4m3(), RoundingSpec{Rounding::sr, 8});
  CHECK(sr.is_stochastic());
  RoleSet roles;
  for (Role r : {Role::W, Role::A, Role::G, Role::E}) roles[r] = sr;
  StepContext ctx;
  ctx.seed = 42;
  ctx.step = 3;
  ctx.node = 5;
  const RoleRun a = run_conv_roles(roles, ctx), b = run_conv_roles(roles, ctx);
  auto same_run = [](const RoleRun& p, const RoleRun& q) {
    bool s = identical(p.y.span(), q.y.span()) && identical(p.dx.span(), q.dx.span());
    for (std::size_t i = 0; i < p.used.size(); ++i) s = s && identical(p.used[i].span(), q.used[i].span());
    for (std::size_t i = 0; i < p.grads.size(); ++i) s = s && identical(p.grads[i].span(), q.grads[i].span());
    return s;
  };
  CHECK(same_run(a, b));
  CHECK(all_e4m3(a.used[0].span()));
  CHECK(all_e4m3(a.y.span()));
  CHECK(all_e4m3(a.dx.span()));
  CHECK(all_e4m3(a.grads[0].span()));

  StepContext next = ctx;
  next.step = 4;
  const RoleRun c = run_conv_roles(roles, next);
  CHECK_FALSE(identical(a.used[0].span(), c.used[0].span()));
  CHECK_FALSE(identical(a.y.span(), c.y.span()));
  CHECK_FALSE(identical(a.dx.span(), c.dx.span()));

  StepContext other_seed = ctx;
  other_seed.seed = 43;
  CHECK_FALSE(identical(a.used[0].span(), run_conv_roles(roles, other_seed).used[0].span()));
  StepContext other_node = ctx;
  other_node.node = 6;
  CHECK_FALSE(identical(a.used[0].span(), run_conv_roles(roles, other_node).used[0].span()));

  // Each stochastically rounded weight is one of the two fp8 neighbours of the stored value.
  std::mt19937 rng(900);
  FTensor stored(Nchw{4, 3, 3, 3});
  fill_random(stored, rng, 0.4, false);
  const bitsim::formats::Quantizer down(e4m3(), RoundingSpec{Rounding::rdn}), up(e4m3(), RoundingSpec{Rounding::rup});
  std::vector<float> lo(stored.data.size()), hi(stored.data.size());
  down.quantize(stored.span(), lo);
  up.quantize(stored.span(), hi);
  std::size_t outside = 0;
  for (std::size_t i = 0; i < lo.size(); ++i)
    if (!(same_bits(a.used[0].data[i], lo[i]) || same_bits(a.used[0].data[i], hi[i]))) ++outside;
  CHECK(outside == 0);
}

TEST_CASE("nn: role formats that a float cannot hold are rejected", "[nn]") {
  CHECK_THROWS_AS(RoleRounding(parse_format("fp64"), RoundingSpec{}), bitsim::formats::FormatError);
  using bitsim::formats::Format;
  using bitsim::formats::FloatFormat;
  CHECK_THROWS_AS(RoleRounding(Format(FloatFormat{8, 30, 127}), RoundingSpec{}), bitsim::formats::FormatError);
  CHECK_THROWS_AS(RoleRounding(Format(FloatFormat{11, 10, 1023}), RoundingSpec{}), bitsim::formats::FormatError);  // range
  try {
    RoleRounding(parse_format("fp64"), RoundingSpec{}, "conv7 W: ");
    FAIL("no exception");
  } catch (const bitsim::formats::FormatError& e) {
    CHECK(std::string(e.what()).rfind("conv7 W: ", 0) == 0);
  }
  // Formats that do fit are accepted.
  CHECK_NOTHROW(RoleRounding(parse_format("fp16"), RoundingSpec{Rounding::sr, 8}));
  CHECK_NOTHROW(RoleRounding(parse_format("bf16"), RoundingSpec{Rounding::rtz}));
  CHECK_NOTHROW(RoleRounding(Format(FloatFormat{8, 23, 127}), RoundingSpec{}));
}

TEST_CASE("nn: role rounding split over threads gives the same bits and names the same bad element", "[nn]") {
  std::mt19937 rng(900);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> base(200003);
  for (float& v : base) v = normal(rng);
  for (const RoundingSpec spec : {RoundingSpec{}, RoundingSpec{Rounding::sr, 8}}) {
    const RoleRounding role(parse_format("fp8_e4m3"), spec);
    std::vector<float> one = base;
    role.apply(one, 77, "t", 1);
    for (int threads : {2, 3}) {
      std::vector<float> many = base;
      role.apply(many, 77, "t", threads);
      CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
    }
  }
  // A NaN into a format without NaN, placed in the second half (another thread's block).
  const RoleRounding int8(parse_format("int8"), RoundingSpec{});
  std::vector<float> bad = base;
  bad[150001] = std::numeric_limits<float>::quiet_NaN();
  std::string msg1, msg2;
  try {
    std::vector<float> v = bad;
    int8.apply(v, 1, "t", 1);
  } catch (const bitsim::formats::QuantizeError& e) {
    msg1 = e.what();
  }
  try {
    std::vector<float> v = bad;
    int8.apply(v, 1, "t", 2);
  } catch (const bitsim::formats::QuantizeError& e) {
    msg2 = e.what();
  }
  CHECK(msg1.find("150001") != std::string::npos);
  CHECK(msg1 == msg2);
}
