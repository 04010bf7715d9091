#include "sim/kernels/conv2d.hpp"

#include "formats/quantizer.hpp"

#include "formats/format.hpp"
#include "sim/kernels/elementwise.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace bitsim::sim {

namespace {

struct Geometry {
  std::int64_t N, Cin, H, W;  // x
  std::int64_t Cout, KH, KW;  // w: [Cout, Cin/G, KH, KW]
  std::int64_t OH, OW;        // y
  std::int64_t G, Cig, Cog;
  std::int64_t sh, sw, ph, pw, dh, dw;
};

Geometry geometry(const Nchw& x, const Nchw& w, const Conv2dParams& p, const char* op) {
  check_shape(x, fmt::format("{}: x", op).c_str());
  check_shape(w, fmt::format("{}: w", op).c_str());
  auto at_least = [&](const char* name, std::int64_t v, std::int64_t lo) {
    if (v < lo) throw KernelShapeError(fmt::format("{}: {} = {} must be >= {}", op, name, v, lo));
  };
  at_least("stride_h", p.stride_h, 1);
  at_least("stride_w", p.stride_w, 1);
  at_least("pad_h", p.pad_h, 0);
  at_least("pad_w", p.pad_w, 0);
  at_least("dilation_h", p.dilation_h, 1);
  at_least("dilation_w", p.dilation_w, 1);
  at_least("groups", p.groups, 1);
  if (x.c % p.groups)
    throw KernelShapeError(fmt::format("{}: input channels x.c = {} are not divisible by groups = {}", op, x.c, p.groups));
  if (w.n % p.groups)
    throw KernelShapeError(fmt::format("{}: output channels w.n = {} are not divisible by groups = {}", op, w.n, p.groups));
  if (w.c != x.c / p.groups)
    throw KernelShapeError(fmt::format("{}: weight input channels w.c = {} != x.c / groups = {} / {} = {}", op, w.c, x.c, p.groups,
                                       x.c / p.groups));
  Geometry g{};
  g.N = x.n, g.Cin = x.c, g.H = x.h, g.W = x.w;
  g.Cout = w.n, g.KH = w.h, g.KW = w.w;
  g.G = p.groups, g.Cig = x.c / p.groups, g.Cog = w.n / p.groups;
  g.sh = p.stride_h, g.sw = p.stride_w, g.ph = p.pad_h, g.pw = p.pad_w, g.dh = p.dilation_h, g.dw = p.dilation_w;
  auto out_size = [&](const char* axis, std::int64_t in, std::int64_t pad, std::int64_t k, std::int64_t d, std::int64_t s) {
    const std::int64_t span = d * (k - 1) + 1;  // dilated kernel extent
    if (in + 2 * pad < span)
      throw KernelShapeError(fmt::format("{}: output {} would be empty: x.{} + 2*pad_{} = {} < dilated kernel {} "
                                         "dilation_{}*(w.{}-1)+1 = {}",
                                         op, axis, axis, axis, in + 2 * pad, axis, axis, axis, span));
    return (in + 2 * pad - span) / s + 1;
  };
  g.OH = out_size("h", g.H, g.ph, g.KH, g.dh, g.sh);
  g.OW = out_size("w", g.W, g.pw, g.KW, g.dw, g.sw);
  return g;
}

void check_data(const NchwArray& a, const char* op, const char* name) { check_nchw(a, fmt::format("{}: {}", op, name).c_str()); }

// Whether every value is a float (then the float interface gives the same results).
bool all_floats(const std::vector<double>& v) {
  std::uint32_t differ = 0;
  for (double x : v) differ |= static_cast<double>(static_cast<float>(x)) != x && x == x;
  return differ == 0;
}

GemmResult run_gemm(const GemmConfig& c, const Matrix& a, const Matrix& b, int threads, const std::string& where) {
  try {
    // Float operands (as in training, where activations and weights are floats) take gemm_f32, which
    // runs the fast paths on float buffers; its values are identical to gemm()'s.
    if (formats::Quantizer(c.out_format).supports_float_arrays() && all_floats(a.data) && all_floats(b.data)) {
      const std::vector<float> af(a.data.begin(), a.data.end()), bf(b.data.begin(), b.data.end());
      std::vector<float> cf(static_cast<std::size_t>(a.rows * b.cols));
      const GemmPath path = gemm_f32(c, af.data(), bf.data(), cf.data(), a.rows, a.cols, b.cols, threads);
      GemmResult r;
      r.values = Matrix(a.rows, b.cols);
      r.values.data.assign(cf.begin(), cf.end());
      r.path = path;
      return r;
    }
    return gemm(c, a, b, threads, /*want_codes=*/false);
  } catch (const GemmError& e) {
    throw GemmError(fmt::format("{}: {}", where, e.what()));
  }
}

// Columns per weight-gradient GEMM: B (K x tile doubles) stays near 32 MiB (larger tiles stream more
// memory per GEMM, smaller ones re-quantize A more often), the number of tiles is a multiple of the
// thread count (balanced threads), and the width a multiple of 32 (the fp32 kernel's panel width).
// The tiling never changes a result: each element is one dot product over the whole K.
std::int64_t wgrad_tile(std::int64_t K, std::int64_t cols, int threads) {
  const std::int64_t budget = std::int64_t{1} << 22, t = std::max(1, threads);
  std::int64_t tiles = std::max<std::int64_t>(1, (K * cols + budget - 1) / budget);
  if (t > 1) tiles = std::max(t, (tiles + t - 1) / t * t);
  const std::int64_t tile = (cols + tiles - 1) / tiles;
  return std::min(cols, (tile + 31) / 32 * 32);
}

}  // namespace

Nchw conv2d_output_shape(const Nchw& x, const Nchw& w, const Conv2dParams& p) {
  const Geometry g = geometry(x, w, p, "conv2d");
  return {g.N, g.Cout, g.OH, g.OW};
}

NchwArray conv2d_forward(const GemmConfig& config, const NchwArray& x, const NchwArray& w, const Conv2dParams& p, int threads,
                         std::span<const double> bias) {
  const char* op = "conv2d_forward";
  check_data(x, op, "x");
  check_data(w, op, "w");
  const Geometry g = geometry(x.shape, w.shape, p, op);
  if (!bias.empty() && static_cast<std::int64_t>(bias.size()) != g.Cout)
    throw KernelShapeError(fmt::format("{}: bias has {} values, output channels w.n = {}", op, bias.size(), g.Cout));
  validate(config);

  const std::int64_t K = g.Cig * g.KH * g.KW, P = g.OH * g.OW;
  // B of group gi: B[k][j] = w[gi*Cog + j][ci][kh][kw] with k = (ci*KH + kh)*KW + kw, which is w's own
  // flat order within an output channel.
  std::vector<Matrix> bs(static_cast<std::size_t>(g.G));
  for (std::int64_t gi = 0; gi < g.G; ++gi) {
    Matrix& b = bs[static_cast<std::size_t>(gi)];
    b = Matrix(K, g.Cog);
    for (std::int64_t j = 0; j < g.Cog; ++j)
      for (std::int64_t k = 0; k < K; ++k) b(k, j) = w.data[static_cast<std::size_t>((gi * g.Cog + j) * K + k)];
  }
  NchwArray y(Nchw{g.N, g.Cout, g.OH, g.OW});
  // One GEMM per (image, group): A = im2col rows (oh, ow), columns k = (ci, kh, kw).
  detail::run_tasks(g.N * g.G, threads, [&](std::int64_t task, int inner) {
    const std::int64_t n = task / g.G, gi = task % g.G;
    Matrix a(P, K);
    for (std::int64_t oh = 0; oh < g.OH; ++oh)
      for (std::int64_t ow = 0; ow < g.OW; ++ow) {
        double* row = &a.data[static_cast<std::size_t>((oh * g.OW + ow) * K)];
        for (std::int64_t ci = 0; ci < g.Cig; ++ci)
          for (std::int64_t kh = 0; kh < g.KH; ++kh) {
            const std::int64_t ih = oh * g.sh - g.ph + kh * g.dh;
            for (std::int64_t kw = 0; kw < g.KW; ++kw) {
              const std::int64_t iw = ow * g.sw - g.pw + kw * g.dw;
              if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)  // else +0 (padding), as Matrix is zeroed
                row[(ci * g.KH + kh) * g.KW + kw] = x(n, gi * g.Cig + ci, ih, iw);
            }
          }
      }
    const GemmResult c = run_gemm(config, a, bs[static_cast<std::size_t>(gi)], inner,
                                  fmt::format("{}, image {}, group {} (C rows = oh*OW+ow, columns = output channel in the group)", op, n, gi));
    for (std::int64_t j = 0; j < g.Cog; ++j)
      for (std::int64_t r = 0; r < P; ++r) y(n, gi * g.Cog + j, r / g.OW, r % g.OW) = c.values(r, j);
  });

  if (!bias.empty()) {
    std::vector<double> b(y.data.size());
    for (std::int64_t e = 0; e < y.shape.numel(); ++e) b[static_cast<std::size_t>(e)] = bias[static_cast<std::size_t>((e / P) % g.Cout)];
    OutSpec out;
    out.format = config.out_format;
    out.rounding = {config.rounding, 32};
    try {
      y.data = add(out, y.data, b);
    } catch (const OpError& e) {
      throw GemmError(fmt::format("{}: bias add: {}", op, e.what()));
    }
  }
  return y;
}

NchwArray conv2d_backward_input(const GemmConfig& config, const NchwArray& dy, const NchwArray& w, const Nchw& x_shape,
                                const Conv2dParams& p, int threads) {
  const char* op = "conv2d_backward_input";
  check_data(dy, op, "dy");
  check_data(w, op, "w");
  const Geometry g = geometry(x_shape, w.shape, p, op);
  const Nchw ys{g.N, g.Cout, g.OH, g.OW};
  if (!(dy.shape == ys))
    throw KernelShapeError(fmt::format("{}: dy has shape {}, but x {} and w {} give output shape {}", op, dy.shape.to_string(),
                                       x_shape.to_string(), w.shape.to_string(), ys.to_string()));
  validate(config);

  const std::int64_t K = g.Cog * g.KH * g.KW, KK = g.KH * g.KW, P = g.H * g.W;
  // B of group gi: B[k][j] = w[gi*Cog + co][j][kh][kw], k = (co*KH + kh')*KW + kw', kh = KH-1-kh'.
  std::vector<Matrix> bs(static_cast<std::size_t>(g.G));
  for (std::int64_t gi = 0; gi < g.G; ++gi) {
    Matrix& b = bs[static_cast<std::size_t>(gi)];
    b = Matrix(K, g.Cig);
    for (std::int64_t co = 0; co < g.Cog; ++co)
      for (std::int64_t j = 0; j < g.Cig; ++j)
        for (std::int64_t t = 0; t < KK; ++t)  // t = kh'*KW + kw'; w's flat (kh, kw) index is KK-1-t
          b(co * KK + t, j) = w.data[static_cast<std::size_t>(((gi * g.Cog + co) * g.Cig + j) * KK + (KK - 1 - t))];
  }
  // For input row ih and flipped tap kh', the dy row it reads (or -1 for a zero of the upsampled,
  // padded dy); likewise for columns.
  auto tap_map = [](std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t d, std::int64_t s, std::int64_t out) {
    std::vector<std::int64_t> m(static_cast<std::size_t>(in * k), -1);
    for (std::int64_t i = 0; i < in; ++i)
      for (std::int64_t kp = 0; kp < k; ++kp) {
        const std::int64_t t = i + pad - (k - 1 - kp) * d;
        if (t >= 0 && t % s == 0 && t / s < out) m[static_cast<std::size_t>(i * k + kp)] = t / s;
      }
    return m;
  };
  const std::vector<std::int64_t> rows = tap_map(g.H, g.KH, g.ph, g.dh, g.sh, g.OH);
  const std::vector<std::int64_t> cols = tap_map(g.W, g.KW, g.pw, g.dw, g.sw, g.OW);

  NchwArray dx(x_shape);
  detail::run_tasks(g.N * g.G, threads, [&](std::int64_t task, int inner) {
    const std::int64_t n = task / g.G, gi = task % g.G;
    Matrix a(P, K);
    for (std::int64_t ih = 0; ih < g.H; ++ih)
      for (std::int64_t iw = 0; iw < g.W; ++iw) {
        double* row = &a.data[static_cast<std::size_t>((ih * g.W + iw) * K)];
        for (std::int64_t khp = 0; khp < g.KH; ++khp) {
          const std::int64_t oh = rows[static_cast<std::size_t>(ih * g.KH + khp)];
          if (oh < 0) continue;
          for (std::int64_t kwp = 0; kwp < g.KW; ++kwp) {
            const std::int64_t ow = cols[static_cast<std::size_t>(iw * g.KW + kwp)];
            if (ow < 0) continue;
            for (std::int64_t co = 0; co < g.Cog; ++co) row[co * KK + khp * g.KW + kwp] = dy(n, gi * g.Cog + co, oh, ow);
          }
        }
      }
    const GemmResult c = run_gemm(config, a, bs[static_cast<std::size_t>(gi)], inner,
                                  fmt::format("{}, image {}, group {} (C rows = ih*W+iw, columns = input channel in the group)", op, n, gi));
    for (std::int64_t j = 0; j < g.Cig; ++j)
      for (std::int64_t r = 0; r < P; ++r) dx(n, gi * g.Cig + j, r / g.W, r % g.W) = c.values(r, j);
  });
  return dx;
}

NchwArray conv2d_backward_weight(const GemmConfig& config, const NchwArray& x, const NchwArray& dy, const Nchw& w_shape,
                                 const Conv2dParams& p, int threads) {
  const char* op = "conv2d_backward_weight";
  check_data(x, op, "x");
  check_data(dy, op, "dy");
  const Geometry g = geometry(x.shape, w_shape, p, op);
  const Nchw ys{g.N, g.Cout, g.OH, g.OW};
  if (!(dy.shape == ys))
    throw KernelShapeError(fmt::format("{}: dy has shape {}, but x {} and w {} give output shape {}", op, dy.shape.to_string(),
                                       x.shape.to_string(), w_shape.to_string(), ys.to_string()));
  validate(config);

  const std::int64_t K = g.N * g.OH * g.OW, cols = g.Cig * g.KH * g.KW, KK = g.KH * g.KW;
  // A of group gi: A[i][k] = dy[n][gi*Cog + i][oh][ow], k = (n*OH + oh)*OW + ow.
  std::vector<Matrix> as(static_cast<std::size_t>(g.G));
  for (std::int64_t gi = 0; gi < g.G; ++gi) {
    Matrix& a = as[static_cast<std::size_t>(gi)];
    a = Matrix(g.Cog, K);
    for (std::int64_t i = 0; i < g.Cog; ++i)
      for (std::int64_t n = 0; n < g.N; ++n)
        std::copy_n(&dy.data[static_cast<std::size_t>(ys.at(n, gi * g.Cog + i, 0, 0))], g.OH * g.OW,
                    &a.data[static_cast<std::size_t>(i * K + n * g.OH * g.OW)]);
  }
  const std::int64_t tile = wgrad_tile(K, cols, threads), tiles = (cols + tile - 1) / tile;
  NchwArray dw(w_shape);
  // One GEMM per (group, column tile): B = im2col of x transposed, rows k = (n, oh, ow), columns
  // j = (ci, kh, kw) of the tile.
  detail::run_tasks(g.G * tiles, threads, [&](std::int64_t task, int inner) {
    const std::int64_t gi = task / tiles, j0 = (task % tiles) * tile, j1 = std::min(cols, j0 + tile), tw = j1 - j0;
    Matrix b(K, tw);
    // Row by row (k = (n, oh, ow)), so that writes are sequential and reads stay within one image.
    std::vector<std::int64_t> cin(static_cast<std::size_t>(tw)), dkh(static_cast<std::size_t>(tw)), dkw(static_cast<std::size_t>(tw));
    for (std::int64_t jj = 0; jj < tw; ++jj) {
      const std::int64_t j = j0 + jj;
      cin[static_cast<std::size_t>(jj)] = gi * g.Cig + j / KK;
      dkh[static_cast<std::size_t>(jj)] = ((j % KK) / g.KW) * g.dh - g.ph;
      dkw[static_cast<std::size_t>(jj)] = (j % g.KW) * g.dw - g.pw;
    }
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t oh = 0; oh < g.OH; ++oh)
        for (std::int64_t ow = 0; ow < g.OW; ++ow) {
          double* row = &b.data[static_cast<std::size_t>(((n * g.OH + oh) * g.OW + ow) * tw)];
          for (std::int64_t jj = 0; jj < tw; ++jj) {
            const std::int64_t ih = oh * g.sh + dkh[static_cast<std::size_t>(jj)];
            const std::int64_t iw = ow * g.sw + dkw[static_cast<std::size_t>(jj)];
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) row[jj] = x(n, cin[static_cast<std::size_t>(jj)], ih, iw);  // else +0
          }
        }
    const GemmResult c = run_gemm(config, as[static_cast<std::size_t>(gi)], b, inner,
                                  fmt::format("{}, group {}, columns {}..{} (C rows = output channel in the group, columns = "
                                              "(ci*KH+kh)*KW+kw - {})",
                                              op, gi, j0, j1 - 1, j0));
    for (std::int64_t i = 0; i < g.Cog; ++i)
      for (std::int64_t jj = 0; jj < tw; ++jj)
        dw.data[static_cast<std::size_t>((gi * g.Cog + i) * cols + j0 + jj)] = c.values(i, jj);
  });
  return dw;
}

std::vector<double> conv2d_backward_bias(const GemmConfig& config, const NchwArray& dy, int threads) {
  const char* op = "conv2d_backward_bias";
  check_data(dy, op, "dy");
  GemmConfig cfg = config;
  cfg.b_format = formats::parse_format("fp32");
  validate(cfg);
  const std::int64_t P = dy.shape.h * dy.shape.w, K = dy.shape.n * P;
  Matrix a(dy.shape.c, K), ones(K, 1);
  for (double& o : ones.data) o = 1.0;
  for (std::int64_t c = 0; c < dy.shape.c; ++c)
    for (std::int64_t n = 0; n < dy.shape.n; ++n)
      std::copy_n(&dy.data[static_cast<std::size_t>(dy.shape.at(n, c, 0, 0))], P, &a.data[static_cast<std::size_t>(c * K + n * P)]);
  return run_gemm(cfg, a, ones, threads, fmt::format("{} (C rows = output channel)", op)).values.data;
}

}  // namespace bitsim::sim
