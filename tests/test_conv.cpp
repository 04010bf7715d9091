// 2-D convolution (sim/kernels/conv2d.hpp): every output element of the forward pass and of both backward
// products against a naive loop that writes down the documented dot product and hands it to
// gemm_reference (bit-exact); both gradients against central differences in fp64; thread-count
// determinism; shape errors.
#include "sim/kernels/conv2d.hpp"

#include "formats/format.hpp"
#include "formats/golden.hpp"

#include "gemm_config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

using namespace bitsim::sim;
using bitsim::formats::parse_format;
using bitsim::formats::Rounding;

using bitsim::test::config;

namespace {


bool same(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::memcmp(&x, &y, sizeof x) == 0;
}

// Values of N(0, sigma^2); `integers` rounds them (for integer formats).
NchwArray random_array(Nchw s, unsigned seed, double sigma = 1.0, bool integers = false) {
  NchwArray a(s);
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, sigma);
  for (double& v : a.data) v = integers ? std::round(nd(rng)) : nd(rng);
  return a;
}

struct Case {
  const char* name;
  Nchw x, w;
  Conv2dParams p;
};

Conv2dParams params(std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw, std::int64_t dh, std::int64_t dw,
                    std::int64_t groups) {
  return Conv2dParams{sh, sw, ph, pw, dh, dw, groups};
}

// Shapes covering stride, padding, dilation and groups (each kept small: the golden reference is slow).
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"plain 3x3", {2, 3, 5, 6}, {4, 3, 3, 3}, params(1, 1, 0, 0, 1, 1, 1)},
      {"stride (2,1), pad (1,0), 3x2 kernel", {1, 4, 7, 6}, {2, 4, 3, 2}, params(2, 1, 1, 0, 1, 1, 1)},
      {"dilation (2,1), pad (2,1), stride (1,2)", {1, 2, 7, 7}, {3, 2, 3, 3}, params(1, 2, 2, 1, 2, 1, 1)},
      {"groups 2, stride 2, pad 1", {2, 4, 5, 5}, {6, 2, 3, 3}, params(2, 2, 1, 1, 1, 1, 2)},
      {"depthwise (groups = C), stride 3, pad 2, dilation 2", {1, 3, 6, 5}, {3, 1, 2, 2}, params(3, 3, 2, 2, 2, 2, 3)},
      {"1x1", {2, 5, 3, 3}, {2, 5, 1, 1}, params(1, 1, 0, 0, 1, 1, 1)},
  };
  return c;
}

struct NamedConfig {
  const char* name;
  GemmConfig c;
  bool integers;  // data for integer formats
  double sigma;
};

// Accumulators and orders: exact, sequential, pairwise, blocked; float and fixed; products rounded;
// directed rounding. Small accumulators (fp16, bf16) make the order visible in the results.
std::vector<NamedConfig> configs() {
  return {
      {"fp32 in, fp16 acc sequential, fp16 out", config("fp32", "fp32", "fp16", AccOrder::sequential, "fp16"), false, 1.0},
      {"e4m3 x e5m2, bf16 acc pairwise", config("fp8_e4m3", "fp8_e5m2", "bf16", AccOrder::pairwise, "bf16"), false, 1.0},
      {"bf16 in, fp16 acc blocked 4, fp32 out", config("bf16", "bf16", "fp16", AccOrder::blocked, "fp32", Rounding::rne, 4), false, 1.0},
      {"e4m3 in, exact acc, e4m3 out, rtz", config("fp8_e4m3", "fp8_e4m3", nullptr, AccOrder::sequential, "fp8_e4m3", Rounding::rtz), false, 3.0},
      {"fp16 in, fp32 acc sequential", config("fp16", "fp16", "fp32", AccOrder::sequential, "fp32"), false, 1.0},
      {"fp16 products, fp16 acc, rup", config("fp32", "fp32", "fp16", AccOrder::sequential, "fp16", Rounding::rup, 0, "fp16"), false, 1.0},
      {"int8 in, fixed(i=9,f=0) acc saturating, int16 out",
       config("int8", "int8", "fixed(i=9,f=0)", AccOrder::sequential, "fixed(i=15,f=0)"), true, 20.0},
  };
}

// One dot product through the golden reference: a 1xK row times a Kx1 column.
double reference_dot(const GemmConfig& c, const std::vector<double>& a, const std::vector<double>& b) {
  const auto K = static_cast<std::int64_t>(a.size());
  Matrix ra(1, K), cb(K, 1);
  for (std::int64_t k = 0; k < K; ++k) {
    ra(0, k) = a[static_cast<std::size_t>(k)];
    cb(k, 0) = b[static_cast<std::size_t>(k)];
  }
  return gemm_reference(c, ra, cb).values(0, 0);
}

// The documented forward dot product, written from the definition (not from the im2col code).
NchwArray naive_forward(const GemmConfig& c, const NchwArray& x, const NchwArray& w, const Conv2dParams& p) {
  const Nchw ys = conv2d_output_shape(x.shape, w.shape, p);
  const std::int64_t Cig = x.shape.c / p.groups, Cog = w.shape.n / p.groups;
  NchwArray y(ys);
  for (std::int64_t n = 0; n < ys.n; ++n)
    for (std::int64_t co = 0; co < ys.c; ++co)
      for (std::int64_t oh = 0; oh < ys.h; ++oh)
        for (std::int64_t ow = 0; ow < ys.w; ++ow) {
          std::vector<double> a, b;
          const std::int64_t g = co / Cog;
          for (std::int64_t ci = 0; ci < Cig; ++ci)
            for (std::int64_t kh = 0; kh < w.shape.h; ++kh)
              for (std::int64_t kw = 0; kw < w.shape.w; ++kw) {
                const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                const bool inside = ih >= 0 && ih < x.shape.h && iw >= 0 && iw < x.shape.w;
                a.push_back(inside ? x(n, g * Cig + ci, ih, iw) : 0.0);
                b.push_back(w(co, ci, kh, kw));
              }
          y(n, co, oh, ow) = reference_dot(c, a, b);
        }
  return y;
}

// dx from the definition: for each (co, kh' ascending, kw' ascending), kh = KH-1-kh', the term is
// dy at the output position whose forward tap (kh, kw) reads (ih, iw), found by search, else 0.
NchwArray naive_backward_input(const GemmConfig& c, const NchwArray& dy, const NchwArray& w, const Nchw& xs, const Conv2dParams& p) {
  const std::int64_t Cig = xs.c / p.groups, Cog = w.shape.n / p.groups, KH = w.shape.h, KW = w.shape.w;
  NchwArray dx(xs);
  for (std::int64_t n = 0; n < xs.n; ++n)
    for (std::int64_t ci = 0; ci < xs.c; ++ci)
      for (std::int64_t ih = 0; ih < xs.h; ++ih)
        for (std::int64_t iw = 0; iw < xs.w; ++iw) {
          const std::int64_t g = ci / Cig, j = ci % Cig;
          std::vector<double> a, b;
          for (std::int64_t co = 0; co < Cog; ++co)
            for (std::int64_t khp = 0; khp < KH; ++khp)
              for (std::int64_t kwp = 0; kwp < KW; ++kwp) {
                const std::int64_t kh = KH - 1 - khp, kw = KW - 1 - kwp;
                double v = 0.0;
                for (std::int64_t oh = 0; oh < dy.shape.h; ++oh)
                  for (std::int64_t ow = 0; ow < dy.shape.w; ++ow)
                    if (oh * p.stride_h - p.pad_h + kh * p.dilation_h == ih && ow * p.stride_w - p.pad_w + kw * p.dilation_w == iw)
                      v = dy(n, g * Cog + co, oh, ow);
                a.push_back(v);
                b.push_back(w(g * Cog + co, j, kh, kw));
              }
          dx(n, ci, ih, iw) = reference_dot(c, a, b);
        }
  return dx;
}

// dw from the definition: K = (n, oh, ow).
NchwArray naive_backward_weight(const GemmConfig& c, const NchwArray& x, const NchwArray& dy, const Nchw& ws, const Conv2dParams& p) {
  const std::int64_t Cig = x.shape.c / p.groups, Cog = ws.n / p.groups;
  NchwArray dw(ws);
  for (std::int64_t co = 0; co < ws.n; ++co)
    for (std::int64_t ci = 0; ci < ws.c; ++ci)
      for (std::int64_t kh = 0; kh < ws.h; ++kh)
        for (std::int64_t kw = 0; kw < ws.w; ++kw) {
          const std::int64_t g = co / Cog;
          std::vector<double> a, b;
          for (std::int64_t n = 0; n < dy.shape.n; ++n)
            for (std::int64_t oh = 0; oh < dy.shape.h; ++oh)
              for (std::int64_t ow = 0; ow < dy.shape.w; ++ow) {
                const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                const bool inside = ih >= 0 && ih < x.shape.h && iw >= 0 && iw < x.shape.w;
                a.push_back(dy(n, co, oh, ow));
                b.push_back(inside ? x(n, g * Cig + ci, ih, iw) : 0.0);
              }
          dw(co, ci, kh, kw) = reference_dot(c, a, b);
        }
  return dw;
}

// Index of the first element that differs bit-wise, or -1.
std::int64_t first_difference(const NchwArray& got, const NchwArray& want) {
  REQUIRE(got.shape == want.shape);
  for (std::size_t e = 0; e < want.data.size(); ++e)
    if (!same(got.data[e], want.data[e])) return static_cast<std::int64_t>(e);
  return -1;
}

}  // namespace

TEST_CASE("conv2d forward equals the documented dot product through gemm_reference, bit for bit", "[conv]") {
  unsigned seed = 1;
  for (const Case& k : cases())
    for (const NamedConfig& nc : configs()) {
      INFO("shape case: " << k.name << "; config: " << nc.name);
      const NchwArray x = random_array(k.x, seed++, nc.sigma, nc.integers);
      const NchwArray w = random_array(k.w, seed++, nc.sigma, nc.integers);
      const NchwArray y = conv2d_forward(nc.c, x, w, k.p);
      const NchwArray ref = naive_forward(nc.c, x, w, k.p);
      const std::int64_t d = first_difference(y, ref);
      INFO("first differing element " << d);
      CHECK(d == -1);
    }
}

TEST_CASE("conv2d on float operands (the float GEMM interface) equals the documented dot products", "[conv]") {
  unsigned seed = 500;
  auto to_floats = [](NchwArray v) {
    for (double& e : v.data) e = static_cast<float>(e);
    return v;
  };
  for (const Case& k : cases())
    for (const NamedConfig& nc : configs()) {
      INFO("shape case: " << k.name << "; config: " << nc.name);
      const NchwArray x = to_floats(random_array(k.x, seed++, nc.sigma, nc.integers));
      const NchwArray w = to_floats(random_array(k.w, seed++, nc.sigma, nc.integers));
      CHECK(first_difference(conv2d_forward(nc.c, x, w, k.p), naive_forward(nc.c, x, w, k.p)) == -1);
      const NchwArray y = conv2d_forward(nc.c, x, w, k.p);
      const NchwArray dy = to_floats(random_array(y.shape, seed++, nc.sigma, nc.integers));
      CHECK(first_difference(conv2d_backward_input(nc.c, dy, w, k.x, k.p), naive_backward_input(nc.c, dy, w, k.x, k.p)) == -1);
      CHECK(first_difference(conv2d_backward_weight(nc.c, x, dy, k.w, k.p), naive_backward_weight(nc.c, x, dy, k.w, k.p)) == -1);
    }
}

TEST_CASE("conv2d backward products equal their documented dot products, bit for bit", "[conv]") {
  unsigned seed = 100;
  const std::vector<NamedConfig> all = configs();
  for (const Case& k : cases())
    for (std::size_t ci = 0; ci < all.size(); ci += 2) {  // every other config keeps the run short
      const NamedConfig& nc = all[ci];
      INFO("shape case: " << k.name << "; config: " << nc.name);
      const Nchw ys = conv2d_output_shape(k.x, k.w, k.p);
      const NchwArray x = random_array(k.x, seed++, nc.sigma, nc.integers);
      const NchwArray w = random_array(k.w, seed++, nc.sigma, nc.integers);
      const NchwArray dy = random_array(ys, seed++, nc.sigma, nc.integers);
      const std::int64_t dx_diff = first_difference(conv2d_backward_input(nc.c, dy, w, k.x, k.p), naive_backward_input(nc.c, dy, w, k.x, k.p));
      CHECK(dx_diff == -1);
      const std::int64_t dw_diff = first_difference(conv2d_backward_weight(nc.c, x, dy, k.w, k.p), naive_backward_weight(nc.c, x, dy, k.w, k.p));
      CHECK(dw_diff == -1);
    }
}

TEST_CASE("the accumulation order of a conv output is visible and as documented", "[conv]") {
  // One output, K = 3 (1 channel, 1x3 kernel): x = (1, 2^-11, 2^-11), w = (1, 1, 1). In fp16 (11
  // significant bits) sequential order gives ((1 + 2^-11) -> 1, + 2^-11 -> 1) = 1; exact gives 1 + 2^-10.
  const double t = std::ldexp(1.0, -11);
  const NchwArray x(Nchw{1, 1, 1, 3}, {1.0, t, t});
  const NchwArray w(Nchw{1, 1, 1, 3}, {1.0, 1.0, 1.0});
  CHECK(conv2d_forward(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), x, w, {}).data[0] == 1.0);
  CHECK(conv2d_forward(config("fp32", "fp32", nullptr, AccOrder::sequential, "fp32"), x, w, {}).data[0] == 1.0 + 2 * t);
  // Reversed data: x = (2^-11, 2^-11, 1): sequential gives 2^-10 + 1 exactly.
  const NchwArray xr(Nchw{1, 1, 1, 3}, {t, t, 1.0});
  CHECK(conv2d_forward(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), xr, w, {}).data[0] == 1.0 + 2 * t);
  // Input gradient: dx[0][0][0][0] of a 1x3 kernel with pad 2 and a 1-wide output... the flipped order
  // visits dy in increasing ow. x is 1x1, pad_w 2 -> OW = 3; dx = sum over kw' of dy[ow] * w[kw],
  // kw = 2 - kw', ow = 2 - kw, so kw' = 0, 1, 2 visits ow = 0, 1, 2.
  const NchwArray dy(Nchw{1, 1, 1, 3}, {1.0, t, t});
  Conv2dParams p;
  p.pad_w = 2;
  CHECK(conv2d_backward_input(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), dy, w, Nchw{1, 1, 1, 1}, p).data[0] == 1.0);
  const NchwArray dyr(Nchw{1, 1, 1, 3}, {t, t, 1.0});
  CHECK(conv2d_backward_input(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), dyr, w, Nchw{1, 1, 1, 1}, p).data[0] ==
        1.0 + 2 * t);
}

TEST_CASE("conv2d bias is added after the GEMM's output rounding, with one more rounding", "[conv]") {
  // fp16 out: the GEMM gives 1 (exact), bias 2^-11 ties to even -> 1; rup -> 1 + 2^-10.
  const double t = std::ldexp(1.0, -11);
  const NchwArray x(Nchw{1, 1, 1, 1}, {1.0}), w(Nchw{2, 1, 1, 1}, {1.0, -1.0});
  const std::vector<double> bias = {t, 3.0};
  const NchwArray y = conv2d_forward(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp16"), x, w, {}, 1, bias);
  CHECK(y.data[0] == 1.0);
  CHECK(y.data[1] == 2.0);
  const NchwArray yu = conv2d_forward(config("fp32", "fp32", "fp32", AccOrder::sequential, "fp16", Rounding::rup), x, w, {}, 1, bias);
  CHECK(yu.data[0] == 1.0 + 2 * t);
  // Bias gradient: the sum of dy over (n, h, w) per channel, in the accumulator.
  const NchwArray dy(Nchw{2, 1, 1, 2}, {1.0, t, t, 0.0});
  CHECK(conv2d_backward_bias(config("fp32", "fp32", "fp16", AccOrder::sequential, "fp32"), dy)[0] == 1.0);
  CHECK(conv2d_backward_bias(config("fp32", "fp32", nullptr, AccOrder::sequential, "fp32"), dy)[0] == 1.0 + 2 * t);
}

TEST_CASE("conv2d gradients match central differences in fp64", "[conv]") {
  // fp64 inputs, exact accumulation and fp64 output: y is the exact convolution rounded once per
  // element (relative error <= 2^-53). The loss L(x, w) = sum_o (0.5*y_o^2 + g_o*y_o) is quadratic in
  // x (and in w), so a central difference has no truncation error for any step h: the difference from
  // the analytic gradient (dL/dy = y + g fed to the backward products) comes from rounding alone.
  // Bound: |y_o| and |g_o| <= ~10, at most ~300 outputs, each term computed with relative error
  // ~2^-52 (y's rounding) in long double sums, so L carries an absolute error below about
  // 300 * 100 * 2^-52 ~ 7e-12; divided by 2h = 0.5 that is < 2e-11. The backward products round each
  // gradient once to fp64 (relative 1.1e-16). A tolerance of 1e-9 (absolute, gradients are O(10)) is
  // far above these rounding errors and far below any indexing mistake, which moves gradients by O(1).
  const GemmConfig c = config("fp64", "fp64", nullptr, AccOrder::sequential, "fp64");
  const double h = 0.25;
  unsigned seed = 500;
  for (const Case& k : cases()) {
    INFO("shape case: " << k.name);
    NchwArray x = random_array(k.x, seed++);
    NchwArray w = random_array(k.w, seed++);
    const Nchw ys = conv2d_output_shape(k.x, k.w, k.p);
    const NchwArray g = random_array(ys, seed++);
    auto loss = [&]() {
      const NchwArray y = conv2d_forward(c, x, w, k.p);
      long double L = 0;
      for (std::size_t o = 0; o < y.data.size(); ++o)
        L += 0.5L * y.data[o] * static_cast<long double>(y.data[o]) + static_cast<long double>(g.data[o]) * y.data[o];
      return L;
    };
    const NchwArray y = conv2d_forward(c, x, w, k.p);
    NchwArray dy(ys);
    for (std::size_t o = 0; o < dy.data.size(); ++o) dy.data[o] = y.data[o] + g.data[o];
    const NchwArray dx = conv2d_backward_input(c, dy, w, k.x, k.p);
    const NchwArray dw = conv2d_backward_weight(c, x, dy, k.w, k.p);
    for (auto [param, grad, name] : {std::tuple{&x, &dx, "x"}, std::tuple{&w, &dw, "w"}}) {
      // About 40 elements per tensor, spread over it (the fp64 exact GEMM runs on rationals: slow).
      const std::size_t step = std::max<std::size_t>(1, param->data.size() / 40);
      for (std::size_t e = 0; e < param->data.size(); e += step) {
        const double v = param->data[e];
        param->data[e] = v + h;
        const long double up = loss();
        param->data[e] = v - h;
        const long double down = loss();
        param->data[e] = v;
        const double numeric = static_cast<double>((up - down) / (2 * h));
        INFO("d L / d " << name << "[" << e << "]");
        CHECK(std::fabs(numeric - grad->data[e]) <= 1e-9);
      }
    }
  }
}

TEST_CASE("conv2d results are identical for 1, 2 and 3 threads", "[conv][threads]") {
  // Configs that take different GEMM paths: exact kernel (fp16 acc), fp32 sequential, Eigen exact sum
  // (int8), golden reference (blocked).
  const std::vector<NamedConfig> cfgs = {
      {"fp16 acc", config("fp8_e4m3", "fp8_e4m3", "fp16", AccOrder::pairwise, "fp16"), false, 1.0},
      {"fp32 acc", config("fp16", "fp16", "fp32", AccOrder::sequential, "fp32"), false, 1.0},
      {"int8 exact", config("int8", "int8", "int32", AccOrder::sequential, "int32"), true, 20.0},
      {"blocked", config("bf16", "bf16", "bf16", AccOrder::blocked, "bf16", Rounding::rne, 3), false, 1.0},
  };
  // Batch 3 (more tasks than threads) and batch 1 (fewer: the threads go to gemm()).
  const std::vector<Case> shapes = {
      {"batch 3", {3, 4, 6, 6}, {6, 2, 3, 3}, params(1, 1, 1, 1, 1, 1, 2)},
      {"batch 1", {1, 4, 9, 9}, {5, 4, 3, 3}, params(2, 2, 1, 1, 1, 1, 1)},
  };
  unsigned seed = 900;
  for (const Case& k : shapes)
    for (const NamedConfig& nc : cfgs) {
      INFO("shape case: " << k.name << "; config: " << nc.name);
      const Nchw ys = conv2d_output_shape(k.x, k.w, k.p);
      const NchwArray x = random_array(k.x, seed++, nc.sigma, nc.integers);
      const NchwArray w = random_array(k.w, seed++, nc.sigma, nc.integers);
      const NchwArray dy = random_array(ys, seed++, nc.sigma, nc.integers);
      const NchwArray y1 = conv2d_forward(nc.c, x, w, k.p, 1);
      const NchwArray dx1 = conv2d_backward_input(nc.c, dy, w, k.x, k.p, 1);
      const NchwArray dw1 = conv2d_backward_weight(nc.c, x, dy, k.w, k.p, 1);
      for (int t : {2, 3}) {
        CHECK(first_difference(conv2d_forward(nc.c, x, w, k.p, t), y1) == -1);
        CHECK(first_difference(conv2d_backward_input(nc.c, dy, w, k.x, k.p, t), dx1) == -1);
        CHECK(first_difference(conv2d_backward_weight(nc.c, x, dy, k.w, k.p, t), dw1) == -1);
      }
    }
}

TEST_CASE("conv2d weight gradient with a K large enough to be split into column tiles", "[conv]") {
  // K = N*OH*OW = 2*64*64 = 8192 and 64 input channels x 3x3 = 576 columns: K x 576 doubles exceed
  // the 2^22-element tile budget, so the gradient is computed as two GEMMs of 288 columns.
  const Nchw xs{2, 64, 64, 64}, ws{1, 64, 3, 3};
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const GemmConfig c = config("fp8_e4m3", "fp8_e4m3", "fp32", AccOrder::sequential, "fp32");
  const NchwArray x = random_array(xs, 7), dy = random_array(conv2d_output_shape(xs, ws, p), 8);
  const NchwArray dw = conv2d_backward_weight(c, x, dy, ws, p, 2);
  // Every element through one gemm over the whole K in the documented order (B = im2col of x, all
  // 576 columns at once).
  Matrix a(1, 2 * 64 * 64), b(2 * 64 * 64, 576);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t oh = 0; oh < 64; ++oh)
      for (std::int64_t ow = 0; ow < 64; ++ow) {
        const std::int64_t k = (n * 64 + oh) * 64 + ow;
        a(0, k) = dy(n, 0, oh, ow);
        for (std::int64_t j = 0; j < 576; ++j) {
          const std::int64_t ci = j / 9, ih = oh - 1 + (j % 9) / 3, iw = ow - 1 + j % 3;
          b(k, j) = (ih >= 0 && ih < 64 && iw >= 0 && iw < 64) ? x(n, ci, ih, iw) : 0.0;
        }
      }
  const GemmResult whole = gemm(c, a, b);
  std::int64_t differences = 0;
  for (std::int64_t j = 0; j < 576; ++j) differences += !same(dw.data[static_cast<std::size_t>(j)], whole.values(0, j));
  CHECK(differences == 0);
}

TEST_CASE("conv2d shape errors name the dimension", "[conv][errors]") {
  const GemmConfig c = config("fp32", "fp32", "fp32", AccOrder::sequential, "fp32");
  const NchwArray x = random_array({1, 4, 5, 5}, 1), w = random_array({2, 4, 3, 3}, 2);
  using Catch::Matchers::Contains;
  Conv2dParams p;
  p.groups = 3;
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, p), Contains("x.c = 4") && Contains("groups = 3"));
  p = {};
  p.groups = 2;
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, p), Contains("w.c = 4"));
  CHECK_THROWS_WITH(conv2d_forward(c, x, random_array({3, 2, 3, 3}, 3), p), Contains("w.n = 3"));
  p = {};
  p.stride_w = 0;
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, p), Contains("stride_w = 0"));
  p = {};
  p.pad_h = -1;
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, p), Contains("pad_h = -1"));
  p = {};
  p.dilation_h = 3;  // dilated kernel 7 > 5
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, p), Contains("output h would be empty") && Contains("= 7"));
  CHECK_THROWS_WITH(conv2d_forward(c, NchwArray(Nchw{1, 4, 0, 5}), w, {}), Contains("dimension h = 0"));
  NchwArray short_x = x;
  short_x.data.pop_back();
  CHECK_THROWS_WITH(conv2d_forward(c, short_x, w, {}), Contains("x: holds 99 values"));
  CHECK_THROWS_WITH(conv2d_forward(c, x, w, {}, 1, std::vector<double>{1.0}), Contains("bias has 1 values"));
  // Backward: dy must have the output shape of x_shape and w.
  const NchwArray dy = random_array({1, 2, 3, 3}, 4);
  CHECK_THROWS_WITH(conv2d_backward_input(c, dy, w, Nchw{1, 4, 6, 5}, {}), Contains("dy has shape [1, 2, 3, 3]") && Contains("[1, 2, 4, 3]"));
  CHECK_THROWS_WITH(conv2d_backward_weight(c, x, dy, Nchw{2, 4, 2, 3}, {}), Contains("dy has shape"));
  // Format errors come from the GEMM, with the image and group in front.
  GemmConfig bad = c;
  bad.out_format = parse_format("float(e=4,m=3,special=none)");  // no NaN
  NchwArray xn = x;
  xn.data[0] = std::nan("");
  CHECK_THROWS_WITH(conv2d_forward(bad, xn, w, {}), Contains("image 0, group 0"));
}
