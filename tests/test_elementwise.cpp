// Element-wise kernels, pooling and softmax cross-entropy (sim/kernels/elementwise.hpp): exact single rounding
// against the golden path, hand-computed cases, fp64 numerical differentiation of every backward
// function, thread-count determinism and shape errors.
#include "sim/kernels/elementwise.hpp"

#include "formats/format.hpp"
#include "formats/golden.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace bitsim::sim;
using bitsim::formats::ExactInput;
using bitsim::formats::parse_format;
using bitsim::formats::PhiloxWords;
using bitsim::formats::Rational;
using bitsim::formats::rational_from_double;
using bitsim::formats::Rounding;

namespace {

OutSpec out(const char* format, Rounding mode = Rounding::rne, int sr_bits = 32) {
  OutSpec o;
  o.format = parse_format(format);
  o.rounding = {mode, sr_bits};
  if (mode == Rounding::sr) {
    o.rng = PhiloxWords(77);
    o.first_word = 1000;
  }
  return o;
}

GemmConfig config(const char* in, const char* acc, AccOrder order, const char* outf, const char* b = nullptr) {
  GemmConfig c;
  c.a_format = parse_format(in);
  c.b_format = parse_format(b ? b : in);
  if (acc) c.acc = parse_format(acc);
  c.order = order;
  c.out_format = parse_format(outf);
  return c;
}

bool same(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  return std::memcmp(&x, &y, sizeof x) == 0;
}

// The golden rounding of an exact value with the word element e would use.
double golden(const OutSpec& o, const Rational& v, std::size_t e) {
  const std::uint32_t word = o.rng ? o.rng->word(o.first_word + e) : 0;
  return bitsim::formats::golden_quantize_exact(o.format, ExactInput::from_rational(v), o.rounding, word).value;
}

NchwArray random_array(Nchw s, unsigned seed) {
  NchwArray a(s);
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (double& v : a.data) v = nd(rng);
  return a;
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("add, mul and scale round the exact result once, as the golden path does", "[ops]") {
  // Operand pairs: wide exponent spreads (sums not exact in double), cancellations, near-ties,
  // products of 53-bit significands; the formats cover narrow/wide floats, flush, fixed with
  // saturation and wrap-around, and fp64 itself (golden fallback for inexact pairs).
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> mant(1.0, 2.0);
  std::uniform_int_distribution<int> ex(-40, 40), coin(0, 3);
  std::vector<double> a, b;
  for (int i = 0; i < 400; ++i) {
    const double x = (coin(rng) & 1 ? -1 : 1) * std::ldexp(mant(rng), ex(rng) / 4);
    double y;
    switch (coin(rng)) {
      case 0: y = -x * (1 + std::ldexp(mant(rng), -20)); break;  // cancellation
      case 1: y = std::ldexp(mant(rng), ex(rng)); break;           // any spread
      case 2: y = std::ldexp(1.0, ex(rng) / 4 - 11); break;        // near a tie of an 11-bit grid
      default: y = -std::ldexp(mant(rng), ex(rng) / 4); break;
    }
    a.push_back(x);
    b.push_back(y);
  }
  const char* formats[] = {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp32", "float(e=5,m=2,subnormals=no)", "fixed(i=3,f=4)",
                           "fixed(i=3,f=4,overflow=wrap)", "fp64"};
  const std::pair<Rounding, int> modes[] = {{Rounding::rne, 32}, {Rounding::rna, 32}, {Rounding::rtz, 32}, {Rounding::rup, 32},
                                            {Rounding::rdn, 32}, {Rounding::sr, 8},    {Rounding::sr, 32}};
  const double s = -0x1.5555555555555p-3;
  for (const char* f : formats)
    for (auto [mode, bits] : modes) {
      const OutSpec o = out(f, mode, bits);
      INFO("format " << f << " mode " << bitsim::formats::rounding_name(mode) << " R=" << bits);
      const std::vector<double> sum = add(o, a, b), prod = mul(o, a, b), scaled = scale(o, s, a);
      for (std::size_t e = 0; e < a.size(); ++e) {
        INFO("element " << e << ": a = " << a[e] << ", b = " << b[e]);
        const Rational ra = rational_from_double(a[e]), rb = rational_from_double(b[e]);
        CHECK(same(sum[e], golden(o, ra + rb, e)));
        CHECK(same(prod[e], golden(o, ra * rb, e)));
        CHECK(same(scaled[e], golden(o, rational_from_double(s) * ra, e)));
      }
    }
}

TEST_CASE("element-wise specials, zero signs and results beyond the double range", "[ops]") {
  const OutSpec o = out("fp32"), dn = out("fp32", Rounding::rdn), up = out("fp32", Rounding::rup), tz = out("fp32", Rounding::rtz);
  auto add1 = [](const OutSpec& s, double x, double y) { return add(s, std::vector{x}, std::vector{y})[0]; };
  auto mul1 = [](const OutSpec& s, double x, double y) { return mul(s, std::vector{x}, std::vector{y})[0]; };
  CHECK(std::isnan(add1(o, kNaN, 1)));
  CHECK(std::isnan(add1(o, kInf, -kInf)));
  CHECK(add1(o, kInf, 1) == kInf);
  CHECK(same(add1(o, -0.0, -0.0), -0.0));
  CHECK(same(add1(o, 0.0, -0.0), 0.0));
  CHECK(same(add1(dn, 0.0, -0.0), -0.0));
  CHECK(same(add1(o, 1.0, -1.0), 0.0));
  CHECK(same(add1(dn, 1.0, -1.0), -0.0));
  CHECK(same(add1(dn, 0.0, 0.0), 0.0));
  CHECK(same(mul1(o, -0.0, 3.0), -0.0));
  CHECK(std::isnan(mul1(o, kInf, 0.0)));
  CHECK(mul1(o, -kInf, 2.0) == -kInf);
  // Beyond the double range (golden fallback): the exact product 10^400 overflows fp32 to +Inf under
  // rne but to the largest finite value under rtz; 10^-400 is below every subnormal: +0, or under rup
  // the smallest subnormal 2^-149.
  CHECK(mul1(o, 1e200, 1e200) == kInf);
  CHECK(mul1(tz, 1e200, 1e200) == std::numeric_limits<float>::max());
  CHECK(mul1(tz, DBL_MAX, 2.0) == std::numeric_limits<float>::max());
  CHECK(same(mul1(o, 1e-200, 1e-200), 0.0));
  CHECK(mul1(up, 1e-200, 1e-200) == std::ldexp(1.0, -149));
  CHECK(add1(tz, DBL_MAX, DBL_MAX) == std::numeric_limits<float>::max());
  // fp64 output: DBL_MAX + DBL_MAX is beyond fp64 -> Inf (rne), DBL_MAX (rtz).
  CHECK(add1(out("fp64"), DBL_MAX, DBL_MAX) == kInf);
  CHECK(add1(out("fp64", Rounding::rtz), DBL_MAX, DBL_MAX) == DBL_MAX);
  // A NaN into a format without NaN is an error naming the operation and the element.
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(add(out("float(e=2,m=1,special=none)"), std::vector{1.0, kNaN}, std::vector{1.0, 1.0}),
                    Contains("add: element 1"));
  CHECK_THROWS_WITH(add(o, std::vector{1.0}, std::vector{1.0, 2.0}), Contains("differ in length"));
  OutSpec no_rng = out("fp16");
  no_rng.rounding.mode = Rounding::sr;
  CHECK_THROWS_WITH(round_to(no_rng, std::vector{1.0}), Contains("needs OutSpec::rng"));
}

TEST_CASE("stochastic rounding uses word first_word + j for element j", "[ops]") {
  // 1 + 2^-12 in fp16 (ulp 2^-10): t = 1/4, so with R = 2, f = 1 and the result is 1 + 2^-10 when
  // r = word >> 30 >= 3. The words are Philox words; the result follows them element by element.
  OutSpec o = out("fp16", Rounding::sr, 2);
  std::vector<double> x(64, 1.0), y(64, std::ldexp(1.0, -12));
  const std::vector<double> r = add(o, x, y);
  int up = 0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const bool expect_up = (o.rng->word(o.first_word + e) >> 30) >= 3;
    CHECK(r[e] == (expect_up ? 1.0 + std::ldexp(1.0, -10) : 1.0));
    up += expect_up;
  }
  CHECK(up > 0);
  CHECK(up < 64);
}

TEST_CASE("ReLU forward and backward (hand-computed)", "[ops]") {
  const std::vector<double> x = {-2.0, -0.0, 0.0, 0.1, 3.0, kNaN};
  const std::vector<double> y = relu_forward(out("fp8_e4m3"), x);
  CHECK(same(y[0], 0.0));
  CHECK(same(y[1], 0.0));
  CHECK(same(y[2], 0.0));
  CHECK(y[3] == 0.1015625);  // 0.1 in e4m3: 13/128
  CHECK(y[4] == 3.0);
  CHECK(std::isnan(y[5]));
  const std::vector<double> dy = {5.0, 5.0, 5.0, 0.3, -0.3, 1.0};
  const std::vector<double> dx = relu_backward(out("bf16"), x, dy);
  CHECK(same(dx[0], 0.0));
  CHECK(same(dx[2], 0.0));
  CHECK(dx[3] == 0x1.34p-2);  // 0.3 in bf16 (8 significant bits)
  CHECK(dx[4] == -0x1.34p-2);
  CHECK(std::isnan(dx[5]));
}

TEST_CASE("max pooling forward and backward (hand-computed)", "[ops]") {
  // 1 image, 1 channel, 3x3, kernel 2, stride 1: overlapping windows.
  const NchwArray x(Nchw{1, 1, 3, 3}, {1, 5, 2,  //
                                       4, 5, 0,  //
                                       7, 3, 9});
  Pool2dParams p{2, 2, 1, 1, 0, 0};
  const MaxPoolResult r = max_pool2d_forward(out("fp32"), x, p);
  REQUIRE(r.y.shape == Nchw{1, 1, 2, 2});
  CHECK(r.y.data == std::vector<double>{5, 5, 7, 9});
  // Ties: the first in (kh, kw) order: window (0,0) has 5 at (0,1) and (1,1) -> (0,1) = index 1.
  CHECK(r.argmax == std::vector<std::int64_t>{1, 1, 6, 8});
  // Backward: x[0][1] receives dy[0][0] + dy[0][1]; with an fp16 accumulator the order is visible:
  // flipped taps (kh', kw') visit the windows in increasing (oh, ow): dy00 then dy01.
  const double t = std::ldexp(1.0, -11);
  const NchwArray dy(Nchw{1, 1, 2, 2}, {1.0, t, 0.5, 0.25});
  const NchwArray dx = max_pool2d_backward(config("fp32", "fp16", AccOrder::sequential, "fp32"), dy, r.argmax, x.shape, p);
  CHECK(dx.data == std::vector<double>{0, 1.0, 0, 0, 0, 0, 0.5, 0, 0.25});  // 1 + 2^-11 -> 1 in fp16
  const NchwArray dye = max_pool2d_backward(config("fp32", nullptr, AccOrder::sequential, "fp32"), dy, r.argmax, x.shape, p);
  CHECK(dye.data[1] == 1.0 + t);
  // Padding never wins, even against negative values; a NaN wins.
  const NchwArray neg(Nchw{1, 1, 2, 2}, {-3, -1, -2, kNaN});
  const MaxPoolResult rn = max_pool2d_forward(out("fp32"), neg, Pool2dParams{2, 2, 2, 2, 1, 1});
  CHECK(rn.y.data[0] == -3);
  CHECK(rn.y.data[1] == -1);
  CHECK(rn.y.data[2] == -2);
  CHECK(std::isnan(rn.y.data[3]));
}

TEST_CASE("average and global average pooling (hand-computed)", "[ops]") {
  const NchwArray x(Nchw{1, 1, 2, 4}, {1, 2, 5, 6,  //
                                       3, 4, 7, 9});
  const GemmConfig c = config("fp32", "fp32", AccOrder::sequential, "fp32");
  const NchwArray y = avg_pool2d_forward(c, x, Pool2dParams{2, 2, 2, 2, 0, 0});
  CHECK(y.data == std::vector<double>{2.5, 6.75});
  // Padding counts in the divisor: kernel 2, stride 2, pad 1 on a 2x4 input -> windows of 4 taps.
  const NchwArray yp = avg_pool2d_forward(c, x, Pool2dParams{2, 2, 2, 2, 1, 1});
  REQUIRE(yp.shape == Nchw{1, 1, 2, 3});
  CHECK(yp.data == std::vector<double>{0.25, 1.75, 1.5, 0.75, 2.75, 2.25});
  // A 3-wide window: the weight 1/3 is rounded to the b format (bf16: 0x1.56p-2), then each product
  // and the sum follow the GEMM rules.
  const NchwArray x3(Nchw{1, 1, 1, 3}, {3, 3, 3});
  const GemmConfig cb = config("fp32", nullptr, AccOrder::sequential, "fp32", "bf16");
  CHECK(avg_pool2d_forward(cb, x3, Pool2dParams{1, 3, 1, 1, 0, 0}).data[0] == 9 * 0x1.56p-2);
  const NchwArray g = global_avg_pool_forward(c, x);
  REQUIRE(g.shape == Nchw{1, 1, 1, 1});
  CHECK(g.data[0] == 37.0 / 8);
  const NchwArray gdx = global_avg_pool_backward(c, NchwArray(Nchw{1, 1, 1, 1}, {8.0}), x.shape);
  CHECK(gdx.data == std::vector<double>(8, 1.0));
}

TEST_CASE("pooling backward matches central differences in fp64", "[ops]") {
  // fp64 everywhere with exact accumulation. The pooled outputs are linear in x near the point (max
  // pooling: the inputs are spaced >= 0.01 apart and h = 1e-4, so no argmax changes), and the loss
  // L = sum_o g_o*y_o is linear, so a central difference has no truncation error; what remains is the
  // rounding of L (~60 terms of size <= 10, relative 2^-53 each, in long double: < 1e-13) divided by
  // 2h = 2e-4: < 1e-9. Tolerance 1e-8 (gradients are O(1); an indexing error is O(0.1) or more).
  const GemmConfig c = config("fp64", nullptr, AccOrder::sequential, "fp64");
  const OutSpec o = out("fp64");
  const Nchw xs{2, 2, 5, 4};
  NchwArray x(xs);
  std::mt19937 rng(5);
  for (std::size_t e = 0; e < x.data.size(); ++e) x.data[e] = 0.01 * static_cast<double>(e);
  std::shuffle(x.data.begin(), x.data.end(), rng);
  const double h = 1e-4;
  const Pool2dParams pools[] = {{2, 2, 1, 1, 0, 0}, {3, 2, 2, 1, 1, 1}, {2, 2, 2, 2, 1, 0}};
  for (const Pool2dParams& p : pools) {
    INFO("kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "," << p.stride_w << " pad " << p.pad_h << ","
                   << p.pad_w);
    const Nchw ys = pool2d_output_shape(xs, p);
    const NchwArray g = random_array(ys, 9);
    for (int kind = 0; kind < 3; ++kind) {
      INFO((kind == 0 ? "max" : kind == 1 ? "avg" : "global avg"));
      auto forward = [&](const NchwArray& in) {
        if (kind == 0) return max_pool2d_forward(o, in, p).y;
        if (kind == 1) return avg_pool2d_forward(c, in, p);
        return global_avg_pool_forward(c, in);
      };
      const NchwArray gg = kind == 2 ? random_array(Nchw{xs.n, xs.c, 1, 1}, 10) : g;
      auto loss = [&](const NchwArray& in) {
        const NchwArray y = forward(in);
        long double L = 0;
        for (std::size_t e = 0; e < y.data.size(); ++e) L += static_cast<long double>(gg.data[e]) * y.data[e];
        return L;
      };
      NchwArray dx;
      if (kind == 0) dx = max_pool2d_backward(c, gg, max_pool2d_forward(o, x, p).argmax, xs, p);
      else if (kind == 1) dx = avg_pool2d_backward(c, gg, xs, p);
      else dx = global_avg_pool_backward(c, gg, xs);
      NchwArray xp = x;
      for (std::size_t e = 0; e < x.data.size(); ++e) {
        xp.data[e] = x.data[e] + h;
        const long double up = loss(xp);
        xp.data[e] = x.data[e] - h;
        const long double down = loss(xp);
        xp.data[e] = x.data[e];
        INFO("element " << e);
        CHECK(std::fabs(static_cast<double>((up - down) / (2 * h)) - dx.data[e]) <= 1e-8);
      }
    }
  }
}

TEST_CASE("softmax cross-entropy forward and backward (hand-computed)", "[ops]") {
  // Row 0: logits (0, 0), label 0: p = (1/2, 1/2), loss ln 2. Row 1: (ln 3, 0), label 1: p = (3/4, 1/4),
  // loss ln 4. Mean: 1.5 ln 2. Computed in double: equal to within a few ulps.
  Matrix z(2, 2);
  z(1, 0) = std::log(3.0);
  const std::vector<std::int64_t> labels = {0, 1};
  const SoftmaxCeResult r = softmax_cross_entropy_forward(out("fp64"), out("fp64"), z, labels);
  CHECK(r.loss == Approx(1.5 * std::log(2.0)).epsilon(1e-15));
  CHECK(r.probs(0, 0) == 0.5);
  CHECK(r.probs(1, 0) == Approx(0.75).epsilon(1e-15));
  CHECK(r.probs(1, 1) == Approx(0.25).epsilon(1e-15));
  // Rounded to fp8_e4m3: 1.5 ln 2 = 1.0397... -> 1.0 (grid 1/8); probabilities 0.75, 0.25 exact.
  const SoftmaxCeResult r8 = softmax_cross_entropy_forward(out("fp8_e4m3"), out("fp8_e4m3"), z, labels);
  CHECK(r8.loss == 1.0);
  CHECK(r8.probs(1, 0) == 0.75);
  const Matrix g = softmax_cross_entropy_backward(out("fp16"), z, labels);
  CHECK(g(0, 0) == -0.25);
  CHECK(g(0, 1) == 0.25);
  CHECK(g(1, 0) == 0.375);
  CHECK(g(1, 1) == -0.375);
  // Large logits do not overflow (max subtraction).
  Matrix big(1, 2);
  big(0, 0) = 1000;
  big(0, 1) = 1000;
  CHECK(softmax_cross_entropy_forward(out("fp64"), out("fp64"), big, std::vector<std::int64_t>{1}).loss == Approx(std::log(2.0)));
}

TEST_CASE("softmax cross-entropy backward matches central differences in fp64", "[ops]") {
  // L is smooth; with h = 1e-5 the central difference's truncation error is h^2/6 * |L'''| <= ~1e-11
  // (|L'''| <= 1 for softmax CE averaged over rows), and the rounding error of L (double, ~1e-16 *
  // |L| ~ 3e-16) over 2h is ~2e-11. Tolerance 1e-8.
  Matrix z(3, 5);
  std::mt19937 rng(4);
  std::normal_distribution<double> nd(0.0, 2.0);
  for (double& v : z.data) v = nd(rng);
  const std::vector<std::int64_t> labels = {4, 0, 2};
  const Matrix g = softmax_cross_entropy_backward(out("fp64"), z, labels);
  const double h = 1e-5;
  for (std::size_t e = 0; e < z.data.size(); ++e) {
    Matrix zp = z;
    zp.data[e] = z.data[e] + h;
    const double up = softmax_cross_entropy_forward(out("fp64"), out("fp64"), zp, labels).loss;
    zp.data[e] = z.data[e] - h;
    const double down = softmax_cross_entropy_forward(out("fp64"), out("fp64"), zp, labels).loss;
    INFO("element " << e);
    CHECK(std::fabs((up - down) / (2 * h) - g.data[e]) <= 1e-8);
  }
}

TEST_CASE("pooling results are identical for 1 and 2 threads", "[ops][threads]") {
  const NchwArray x = random_array({3, 4, 7, 7}, 21);
  const Pool2dParams p{3, 3, 2, 2, 1, 1};
  const GemmConfig c = config("fp8_e4m3", "fp16", AccOrder::pairwise, "fp16", "fp16");
  const MaxPoolResult m = max_pool2d_forward(out("fp16"), x, p);
  const NchwArray dy = random_array(m.y.shape, 22);
  const NchwArray a1 = avg_pool2d_forward(c, x, p, 1), a2 = avg_pool2d_forward(c, x, p, 2);
  const NchwArray b1 = avg_pool2d_backward(c, dy, x.shape, p, 1), b2 = avg_pool2d_backward(c, dy, x.shape, p, 2);
  const NchwArray m1 = max_pool2d_backward(c, dy, m.argmax, x.shape, p, 1), m2 = max_pool2d_backward(c, dy, m.argmax, x.shape, p, 2);
  for (auto [u, v] : {std::pair{&a1, &a2}, std::pair{&b1, &b2}, std::pair{&m1, &m2}}) {
    REQUIRE(u->data.size() == v->data.size());
    for (std::size_t e = 0; e < u->data.size(); ++e) CHECK(same(u->data[e], v->data[e]));
  }
}

TEST_CASE("pooling, residual and loss shape errors name the dimension", "[ops][errors]") {
  using Catch::Matchers::Contains;
  const NchwArray x = random_array({1, 2, 4, 4}, 1);
  const OutSpec o = out("fp32");
  const GemmConfig c = config("fp32", "fp32", AccOrder::sequential, "fp32");
  CHECK_THROWS_WITH(max_pool2d_forward(o, x, Pool2dParams{0, 2, 1, 1, 0, 0}), Contains("kernel_h = 0"));
  CHECK_THROWS_WITH(max_pool2d_forward(o, x, Pool2dParams{2, 2, 1, 0, 0, 0}), Contains("stride_w = 0"));
  CHECK_THROWS_WITH(max_pool2d_forward(o, x, Pool2dParams{2, 2, 1, 1, 2, 0}), Contains("pad_h = 2"));
  CHECK_THROWS_WITH(avg_pool2d_forward(c, x, Pool2dParams{5, 2, 1, 1, 0, 0}), Contains("output h would be empty"));
  const NchwArray dy = random_array({1, 2, 2, 2}, 2);
  CHECK_THROWS_WITH(avg_pool2d_backward(c, dy, Nchw{1, 2, 6, 4}, Pool2dParams{}), Contains("dy has shape [1, 2, 2, 2]"));
  const MaxPoolResult m = max_pool2d_forward(o, x, Pool2dParams{});
  std::vector<std::int64_t> bad = m.argmax;
  bad[0] = 15;  // in the image, not in window (0, 0)
  CHECK_THROWS_WITH(max_pool2d_backward(c, dy, bad, x.shape, Pool2dParams{}), Contains("argmax[0] = 15"));
  CHECK_THROWS_WITH(max_pool2d_backward(c, dy, std::vector<std::int64_t>(3), x.shape, Pool2dParams{}), Contains("3 argmax entries"));
  CHECK_THROWS_WITH(residual_add(o, x, random_array({1, 2, 4, 3}, 3)), Contains("[1, 2, 4, 4]") && Contains("[1, 2, 4, 3]"));
  Matrix z(2, 3);
  CHECK_THROWS_WITH(softmax_cross_entropy_forward(o, o, z, std::vector<std::int64_t>{0, 3}), Contains("labels[1] = 3"));
  CHECK_THROWS_WITH(softmax_cross_entropy_backward(o, z, std::vector<std::int64_t>{0}), Contains("1 labels for 2 rows"));
  CHECK_THROWS_WITH(relu_backward(o, std::vector<double>(3), std::vector<double>(2)), Contains("differ in length"));
}
