#include "sim/kernels/conv_kernels.hpp"

#include "sim/kernels/im2col.hpp"
#include "sim/runtime/task_split.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bitsim::sim::nn {

namespace {

// Writes the C planes of src (H x W each) into dst, whose planes are Hd x Wd, at row `top` and
// column `left` of each plane; the rest of dst is left as it is (the zero padding).
void embed_planes(const float* src, std::int64_t C, std::int64_t H, std::int64_t W, float* dst, std::int64_t Hd,
                  std::int64_t Wd, std::int64_t top, std::int64_t left) {
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t h = 0; h < H; ++h)
      std::memcpy(dst + (c * Hd + h + top) * Wd + left, src + (c * H + h) * W, static_cast<std::size_t>(W) * sizeof(float));
}

// Floor division and the matching remainder (0 <= r < d) for any sign of x.
inline std::int64_t floor_div(std::int64_t x, std::int64_t d) { return x >= 0 ? x / d : -((-x + d - 1) / d); }

// A convolution's input rearranged so that every im2col row is one contiguous slice of it, at any
// stride s: the phase planes. Tap (c, kh, kw) of output (oh, ow) reads x[c][s*oh - pad + kh][s*ow -
// pad + kw]; writing kh - pad = s*a + p (0 <= p < s) and kw - pad = s*b + q (pad_h and pad_w apart), that is x[c][s*(oh + a) +
// p][s*(ow + b) + q]. Plane (c, p, q) holds x[c][s*i + p][s*j + q] at row i - a_min and column j - b_min
// (+0 where that falls outside x), Hq x Wq with Hq = OH + a_max - a_min, Wq = OW + b_max - b_min. Over
// the extended positions oh*Wq + ow, im2col row k is then the slice of its plane starting at row
// a - a_min, column b - b_min: the GEMM reads it in place. The Wq - OW extra columns of each output row
// are computed and dropped (forward) or meet +0 in dy (weight gradient). Each kept element is the same
// dot product, term by term, as with im2col (a tap outside x reads the +0 im2col would hold). At
// stride 1 this is the image zero-padded by `pad` on every side; at stride 2 with a 3x3 kernel and pad
// 1, four planes of (OH + 1) x (OW + 1): 1/(OW + 1) of the columns are extra, where im2col costs a copy
// of nine taps per output.
struct PhasePlanes {
  std::int64_t C, H, W, KH, KW, s, pad_h, pad_w, OH, OW;
  std::int64_t a_min, b_min, Hq, Wq;
  // The phases some tap reads (a 1x1 kernel at stride 2 reads p = q = 0 only), and each phase's
  // index among them (-1: not built).
  std::vector<std::int64_t> rows_p, cols_q, index_p, index_q;

  PhasePlanes(std::int64_t C_, std::int64_t H_, std::int64_t W_, std::int64_t KH_, std::int64_t KW_, std::int64_t s_,
              std::int64_t pad_h_, std::int64_t pad_w_, std::int64_t OH_, std::int64_t OW_)
      : C(C_), H(H_), W(W_), KH(KH_), KW(KW_), s(s_), pad_h(pad_h_), pad_w(pad_w_), OH(OH_), OW(OW_) {
    a_min = floor_div(-pad_h, s);
    b_min = floor_div(-pad_w, s);
    Hq = OH + floor_div(KH - 1 - pad_h, s) - a_min;
    Wq = OW + floor_div(KW - 1 - pad_w, s) - b_min;
    index_p.assign(static_cast<std::size_t>(s), -1);
    index_q.assign(static_cast<std::size_t>(s), -1);
    for (std::int64_t kh = 0; kh < KH; ++kh) index_p[static_cast<std::size_t>(kh - pad_h - s * floor_div(kh - pad_h, s))] = 0;
    for (std::int64_t kw = 0; kw < KW; ++kw) index_q[static_cast<std::size_t>(kw - pad_w - s * floor_div(kw - pad_w, s))] = 0;
    for (std::int64_t p = 0; p < s; ++p)
      if (index_p[static_cast<std::size_t>(p)] == 0) {
        index_p[static_cast<std::size_t>(p)] = static_cast<std::int64_t>(rows_p.size());
        rows_p.push_back(p);
      }
    for (std::int64_t q = 0; q < s; ++q)
      if (index_q[static_cast<std::size_t>(q)] == 0) {
        index_q[static_cast<std::size_t>(q)] = static_cast<std::int64_t>(cols_q.size());
        cols_q.push_back(q);
      }
  }
  std::int64_t planes() const { return C * static_cast<std::int64_t>(rows_p.size() * cols_q.size()); }
  // Extended output positions (OH rows of Wq).
  std::int64_t extended() const { return OH * Wq; }
  // Floats of a buffer for all planes, with room for the panels' reads past the last one.
  std::int64_t size() const { return planes() * Hq * Wq + (Wq - OW + 1) + 2 * kPanelWidth; }
  float* plane(float* base, std::int64_t c, std::int64_t ip, std::int64_t iq) const {
    return base + ((c * static_cast<std::int64_t>(rows_p.size()) + ip) * static_cast<std::int64_t>(cols_q.size()) + iq) * Hq * Wq;
  }

  // Writes x's values into their places; dst's other elements keep their +0.
  void embed(const float* x, float* dst) const {
    for (std::size_t ip = 0; ip < rows_p.size(); ++ip) {
      // Plane row r holds x row s*(r + a_min) + p: inside x for r in [r0, r1).
      const std::int64_t p = rows_p[ip];
      const std::int64_t r0 = std::max<std::int64_t>(0, -a_min), r1 = std::min(Hq, (H - p + s - 1) / s - a_min);
      for (std::size_t iq = 0; iq < cols_q.size(); ++iq) {
        // Column t holds x column s*(t + b_min) + q: inside x for t in [t0, t1).
        const std::int64_t q = cols_q[iq];
        const std::int64_t t0 = std::max<std::int64_t>(0, -b_min), t1 = std::min(Wq, (W - q + s - 1) / s - b_min);
        if (t1 <= t0) continue;
        for (std::int64_t c = 0; c < C; ++c) {
          float* d = plane(dst, c, static_cast<std::int64_t>(ip), static_cast<std::int64_t>(iq)) + t0;
          const float* src = x + c * H * W + s * (t0 + b_min) + q;
          for (std::int64_t r = r0; r < r1; ++r) copy_every(src + (s * (r + a_min) + p) * W, d + r * Wq, t1 - t0);
        }
      }
    }
  }

  // Where im2col row k = (c, kh, kw) starts.
  const float* tap(const float* planes_base, std::int64_t k) const {
    const std::int64_t c = k / (KH * KW), kh = (k / KW) % KH, kw = k % KW;
    const std::int64_t a = floor_div(kh - pad_h, s), p = kh - pad_h - s * a;
    const std::int64_t b = floor_div(kw - pad_w, s), q = kw - pad_w - s * b;
    return plane(const_cast<float*>(planes_base), c, index_p[static_cast<std::size_t>(p)], index_q[static_cast<std::size_t>(q)]) +
           (a - a_min) * Wq + (b - b_min);
  }

 private:
  // d[t] = src[s*t] for t < n; the common strides with a constant step, which the compiler vectorizes.
  void copy_every(const float* src, float* d, std::int64_t n) const {
    switch (s) {
      case 1: std::memcpy(d, src, static_cast<std::size_t>(n) * sizeof(float)); return;
      case 2: for (std::int64_t t = 0; t < n; ++t) d[t] = src[2 * t]; return;
      default: for (std::int64_t t = 0; t < n; ++t) d[t] = src[s * t]; return;
    }
  }
};

// A convolution of one image without im2col (any stride): out (M x OH*OW) = A (M x C*KH*KW) times
// the im2col operand, read in place from the image's phase planes (PhasePlanes). `xpad`, `ext` and
// `rows` are the calling thread's scratch buffers.
void implicit_conv_image(const float* A, std::int64_t M, const float* src, const PhasePlanes& L, float* out,
                         std::vector<float>& xpad, std::vector<float>& ext, std::vector<const float*>& rows) {
  const std::int64_t K = L.C * L.KH * L.KW, next = L.extended();
  const std::size_t need = static_cast<std::size_t>(L.size());
  if (xpad.size() != need) xpad.assign(need, 0.0f);  // borders and slack stay +0; the interior is rewritten
  L.embed(src, xpad.data());
  rows.resize(static_cast<std::size_t>(K));
  for (std::int64_t k = 0; k < K; ++k) rows[static_cast<std::size_t>(k)] = L.tap(xpad.data(), k);
  ext.resize(static_cast<std::size_t>(M * next));
  gemm_rows(A, K, M, rows.data(), K, next, ext.data(), next);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t oh = 0; oh < L.OH; ++oh)
      std::memcpy(out + (m * L.OH + oh) * L.OW, &ext[static_cast<std::size_t>(m * next + oh * L.Wq)],
                  static_cast<std::size_t>(L.OW) * sizeof(float));
}

// Whether every value is finite: the kernels that skip terms 0 * v (exact only for finite v) check it.
bool all_finite(const float* v, std::size_t count) {
  bool finite = true;
  for (std::size_t i = 0; i < count; ++i) finite &= std::fabs(v[i]) <= 3.4028235e38f;
  return finite;
}

// The engine's kernels take one stride and one padding for both axes and no dilation or groups.
bool engine_takes(const GemmSetup& g, const Conv2dParams& p) {
  return g.is_fast() && p.stride_h == p.stride_w && p.pad_h == p.pad_w && p.dilation_h == 1 && p.dilation_w == 1 && p.groups == 1;
}

}  // namespace

void ConvKernels::forward(const GemmSetup& g, const FTensor& x, const FTensor& w, const float* bias, const Conv2dParams& p,
                          FTensor& y, int threads) {
  if (engine_takes(g, p)) {
    y.reshape(conv2d_output_shape(x.shape, w.shape, p));
    forward_fast(x, w, bias, p, y, threads);
    return;
  }
  const std::vector<double> b = bias ? std::vector<double>(bias, bias + w.shape.n) : std::vector<double>{};
  assign_from(conv2d_forward(g.config(), to_nchw_array(x), to_nchw_array(w), p, threads, b), y);
}

void ConvKernels::backward_input(const GemmSetup& g, const FTensor& dy, const FTensor& w, const Nchw& x_shape,
                                 const Conv2dParams& p, FTensor& dx, int threads) {
  if (engine_takes(g, p)) {
    backward_input_fast(dy, w, x_shape, p, dx, threads);
    return;
  }
  assign_from(conv2d_backward_input(g.config(), to_nchw_array(dy), to_nchw_array(w), x_shape, p, threads), dx);
}

void ConvKernels::backward_weight(const GemmSetup& g, const FTensor& x, const FTensor& dy, const Nchw& w_shape,
                                  const Conv2dParams& p, FTensor& dw, FTensor* dbias, int threads) {
  if (engine_takes(g, p)) {
    backward_weight_fast(x, dy, w_shape, p, dw, dbias, threads);
    return;
  }
  const GemmConfig cfg = g.config();
  const NchwArray dyd = to_nchw_array(dy);
  assign_from(conv2d_backward_weight(cfg, to_nchw_array(x), dyd, w_shape, p, threads), dw);
  if (dbias) {
    const std::vector<double> db = conv2d_backward_bias(cfg, dyd, threads);
    dbias->reshape(Nchw{1, w_shape.n, 1, 1});
    for (std::size_t i = 0; i < db.size(); ++i) dbias->data[i] = static_cast<float>(db[i]);
  }
}

void ConvKernels::forward_fast(const FTensor& x, const FTensor& wt, const float* bias, const Conv2dParams& p, FTensor& y, int threads) {
  const Nchw& w_shape = wt.shape;
  const std::int64_t C = x.shape.c, H = x.shape.h, W = x.shape.w, KH = w_shape.h, KW = w_shape.w;
  const std::int64_t OH = y.shape.h, OW = y.shape.w, P = OH * OW;
  const float* w = wt.ptr();
  auto add_bias = [&](float* yn) {
    if (bias)
      for (std::int64_t co = 0; co < w_shape.n; ++co)
        for (std::int64_t q = 0; q < P; ++q) yn[co * P + q] += bias[co];
  };
  // A strided 1x1 kernel reads one phase plane, which is what im2col builds too; there the packed
  // panels measured faster (bench_conv_stages, the ResNet projections).
  if (p.stride_h == 1 || KH * KW > 1) {
    const PhasePlanes L(C, H, W, KH, KW, p.stride_h, p.pad_h, p.pad_h, OH, OW);
    detail::run_blocks(x.shape.n, threads, [&](std::int64_t n0, std::int64_t n1) {
      std::vector<float> xpad, ext;
      std::vector<const float*> rows;
      for (std::int64_t n = n0; n < n1; ++n) {
        float* yn = y.ptr() + n * w_shape.n * P;
        implicit_conv_image(w, w_shape.n, x.ptr() + n * C * H * W, L, yn, xpad, ext, rows);
        add_bias(yn);
      }
    });
    return;
  }
  const std::int64_t K = C * KH * KW;
  detail::run_blocks(x.shape.n, threads, [&](std::int64_t n0, std::int64_t n1) {
    Panels col;
    col.resize(K, P);
    col.clear_padding();
    for (std::int64_t n = n0; n < n1; ++n) {
      // B[k][pos], k = (ci, kh, kw), pos = (oh, ow): conv2d.hpp's forward order of k.
      im2col(x.ptr() + n * C * H * W, H, W, KH, KW, OH, OW, p.stride_h, p.pad_h, 0, K, PanelsOut{&col});
      float* yn = y.ptr() + n * w_shape.n * P;
      gemm_panels(w, K, w_shape.n, col, yn, P, false);
      add_bias(yn);
    }
  });
}

void ConvKernels::backward_input_fast(const FTensor& dy, const FTensor& wt, const Nchw& xs, const Conv2dParams& p, FTensor& dx,
                                      int threads) {
  const Nchw& w_shape = wt.shape;
  dx.reshape(xs);
  const std::int64_t C = xs.c, H = xs.h, W = xs.w, KH = w_shape.h, KW = w_shape.w, CO = w_shape.n;
  const std::int64_t OH = dy.shape.h, OW = dy.shape.w;
  const std::int64_t K = CO * KH * KW, P = H * W;
  // A' [ci][k'], k' = (co, kh', kw'), holds w[co][ci][KH-1-kh'][KW-1-kw'].
  flipped_.resize(static_cast<std::size_t>(C * K));
  const float* w = wt.ptr();
  for (std::int64_t ci = 0; ci < C; ++ci)
    for (std::int64_t co = 0; co < CO; ++co)
      for (std::int64_t a = 0; a < KH; ++a)
        for (std::int64_t b = 0; b < KW; ++b)
          flipped_[static_cast<std::size_t>(ci * K + (co * KH + a) * KW + b)] =
              w[((co * C + ci) * KH + (KH - 1 - a)) * KW + (KW - 1 - b)];
  if (p.stride_h == 1 && p.pad_h <= KH - 1 && p.pad_h <= KW - 1) {
    // The transposed convolution at stride 1 is a convolution of dy padded by K-1-pad with the flipped
    // kernel (conv2d.hpp's order of k' = co, kh', kw').
    const PhasePlanes L(CO, OH, OW, KH, KW, 1, KH - 1 - p.pad_h, KW - 1 - p.pad_h, H, W);
    detail::run_blocks(xs.n, threads, [&](std::int64_t n0, std::int64_t n1) {
      std::vector<float> xpad, ext;
      std::vector<const float*> rows;
      for (std::int64_t n = n0; n < n1; ++n)
        implicit_conv_image(flipped_.data(), C, dy.ptr() + n * CO * OH * OW, L, dx.ptr() + n * C * P, xpad, ext, rows);
    });
    return;
  }
  if (p.stride_h > 1 && all_finite(flipped_.data(), flipped_.size())) {
    backward_input_by_phase(dy, xs, KH, KW, p.stride_h, p.pad_h, dx, threads);
    return;
  }
  detail::run_blocks(xs.n, threads, [&](std::int64_t n0, std::int64_t n1) {
    Panels col;
    col.resize(K, P);
    col.clear_padding();
    for (std::int64_t n = n0; n < n1; ++n) {
      im2col_transposed(dy.ptr() + n * CO * OH * OW, CO, OH, OW, KH, KW, H, W, p.stride_h, p.pad_h, PanelsOut{&col});
      gemm_panels(flipped_.data(), K, C, col, dx.ptr() + n * C * P, P, false);
    }
  });
}

// The input gradient at stride s > 1 as s*s smaller products, one per phase (ih mod s, iw mod s) of
// dx's positions. In the transposed convolution's operand (im2col_transposed), a position of phase
// (ph, pw) gets a non-zero tap only from the kernel rows kh with (ph + pad - kh) divisible by s, and
// columns likewise: at stride 2, three quarters of its taps are structural zeros. Each phase's
// product keeps its own taps only, in the same relative order (co, kh', kw'), and reads dy at
// (i + dh, j + dw) for the phase's i, j (+0 outside dy, as before). Dropping a term 0 * w is exact: it
// adds +-0 to an fp32 chain that started at +0, which is never -0 under rne, so the chain keeps its
// value; this needs every w finite (0 * Inf would be NaN), which the caller checked. A phase with no
// taps at all (a 1x1 kernel at stride 2) is +0, the value of a chain of zero terms.
void ConvKernels::backward_input_by_phase(const FTensor& dy, const Nchw& xs, std::int64_t KH, std::int64_t KW,
                                          std::int64_t s, std::int64_t pad, FTensor& dx, int threads) {
  const std::int64_t C = xs.c, H = xs.h, W = xs.w, CO = dy.shape.c, OH = dy.shape.h, OW = dy.shape.w;
  const std::int64_t K = CO * KH * KW;
  struct Phase {
    std::int64_t ph, pw, rows, cols;        // positions ih = ph + s*i (i < rows), iw = pw + s*j (j < cols)
    std::vector<std::int64_t> a, b;         // the flipped kernel's rows a and columns b with a tap here
    std::vector<std::int64_t> dh, dw;       // oh = i + dh, ow = j + dw for each of them
    std::vector<float> weights;             // [ci][k''], k'' = (co, a, b) over the taps kept
  };
  // Exact floor division of x by s for x divisible by s, negative x included.
  auto div = [s](std::int64_t x) { return x >= 0 ? x / s : -((-x) / s); };
  std::vector<Phase> phases;
  for (std::int64_t ph = 0; ph < std::min(s, H); ++ph)
    for (std::int64_t pw = 0; pw < std::min(s, W); ++pw) {
      Phase f{ph, pw, (H - ph + s - 1) / s, (W - pw + s - 1) / s, {}, {}, {}, {}, {}};
      for (std::int64_t a = 0; a < KH; ++a) {
        const std::int64_t t = ph + pad - (KH - 1 - a);
        if (((t % s) + s) % s == 0) {
          f.a.push_back(a);
          f.dh.push_back(div(t));
        }
      }
      for (std::int64_t b = 0; b < KW; ++b) {
        const std::int64_t t = pw + pad - (KW - 1 - b);
        if (((t % s) + s) % s == 0) {
          f.b.push_back(b);
          f.dw.push_back(div(t));
        }
      }
      const std::int64_t taps = static_cast<std::int64_t>(f.a.size() * f.b.size());
      f.weights.resize(static_cast<std::size_t>(C * CO * taps));
      for (std::int64_t ci = 0; ci < C; ++ci)
        for (std::int64_t co = 0; co < CO; ++co)
          for (std::size_t ia = 0; ia < f.a.size(); ++ia)
            for (std::size_t ib = 0; ib < f.b.size(); ++ib)
              f.weights[static_cast<std::size_t>((ci * CO + co) * taps + static_cast<std::int64_t>(ia * f.b.size() + ib))] =
                  flipped_[static_cast<std::size_t>(ci * K + (co * KH + f.a[ia]) * KW + f.b[ib])];
      phases.push_back(std::move(f));
    }
  // One zero-padded copy of each image's dy serves every phase: a tap's operand row is the slice of
  // it starting at (dh - dh_min, dw - dw_min), read in place over the extended positions i*Wd + j
  // (the Wd - cols extra columns of each row are computed and dropped), as in implicit_conv_image.
  std::int64_t dh_min = 0, dh_max = 0, dw_min = 0, dw_max = 0, rows_max = 0, cols_max = 0;
  bool first = true;
  for (const Phase& f : phases) {
    if (f.dh.empty() || f.dw.empty()) continue;
    const auto [h0, h1] = std::minmax_element(f.dh.begin(), f.dh.end());
    const auto [w0, w1] = std::minmax_element(f.dw.begin(), f.dw.end());
    dh_min = first ? *h0 : std::min(dh_min, *h0);
    dh_max = first ? *h1 : std::max(dh_max, *h1);
    dw_min = first ? *w0 : std::min(dw_min, *w0);
    dw_max = first ? *w1 : std::max(dw_max, *w1);
    rows_max = std::max(rows_max, f.rows);
    cols_max = std::max(cols_max, f.cols);
    first = false;
  }
  // That copy is the layout of a stride-1 convolution of dy with a window of the offsets' extent,
  // padded by -dh_min and -dw_min, over rows_max x cols_max outputs: rows of Wd = cols_max + dw_max -
  // dw_min.
  const PhasePlanes D(CO, OH, OW, dh_max - dh_min + 1, dw_max - dw_min + 1, 1, -dh_min, -dw_min, rows_max, cols_max);
  const std::int64_t Wd = D.Wq;
  detail::run_blocks(xs.n, threads, [&](std::int64_t n0, std::int64_t n1) {
    std::vector<float> dyp(static_cast<std::size_t>(D.size()), 0.0f), out;
    std::vector<const float*> rows;
    for (std::int64_t n = n0; n < n1; ++n) {
      float* dxn = dx.ptr() + n * C * H * W;
      D.embed(dy.ptr() + n * CO * OH * OW, dyp.data());
      for (const Phase& f : phases) {
        const std::int64_t taps = static_cast<std::int64_t>(f.a.size() * f.b.size()), Kp = CO * taps,
                           next = f.rows * Wd;
        if (Kp == 0) {  // no tap reaches these positions: a chain of zero terms, +0
          for (std::int64_t ci = 0; ci < C; ++ci)
            for (std::int64_t i = 0; i < f.rows; ++i)
              for (std::int64_t j = 0; j < f.cols; ++j) dxn[(ci * H + f.ph + s * i) * W + f.pw + s * j] = 0.0f;
          continue;
        }
        rows.resize(static_cast<std::size_t>(Kp));
        for (std::int64_t co = 0; co < CO; ++co)
          for (std::size_t ia = 0; ia < f.a.size(); ++ia)
            for (std::size_t ib = 0; ib < f.b.size(); ++ib)
              rows[static_cast<std::size_t>(co * taps + static_cast<std::int64_t>(ia * f.b.size() + ib))] =
                  D.plane(dyp.data(), co, 0, 0) + (f.dh[ia] - dh_min) * Wd + f.dw[ib] - dw_min;
        out.resize(static_cast<std::size_t>(C * next));
        gemm_rows(f.weights.data(), Kp, C, rows.data(), Kp, next, out.data(), next);
        for (std::int64_t ci = 0; ci < C; ++ci)
          for (std::int64_t i = 0; i < f.rows; ++i)
            for (std::int64_t j = 0; j < f.cols; ++j)
              dxn[(ci * H + f.ph + s * i) * W + f.pw + s * j] = out[static_cast<std::size_t>(ci * next + i * Wd + j)];
      }
    }
  });
}

void ConvKernels::backward_weight_fast(const FTensor& x, const FTensor& dy, const Nchw& w_shape, const Conv2dParams& p, FTensor& dw,
                                       FTensor* dbias, int threads) {
  const std::int64_t N = x.shape.n, C = x.shape.c, H = x.shape.h, W = x.shape.w, KH = w_shape.h,
                     KW = w_shape.w, CO = w_shape.n;
  const std::int64_t OH = dy.shape.h, OW = dy.shape.w, P = OH * OW, K = C * KH * KW;
  dw.reshape(w_shape);
  // dW^T [k][co] = chain over (n, oh, ow) of col_n[k][pos] * dy_n[co][pos]: A = im2col rows (K x P), B =
  // dy_n^T (P x CO). Each element's chain runs through the images in order n = 0..N-1 (accumulating
  // into C) and the positions within each, as conv2d.hpp specifies; rows k are split over threads.
  transposed_grad_.resize(static_cast<std::size_t>(K * CO));
  const std::int64_t blocks = (K + 7) / 8;
  // Stride 1 without im2col: A's row k over the extended positions oh*Wq + ow is a slice of the
  // zero-padded image (PhasePlanes), and dy gets +0 in the Wq - OW extra columns. An extra term is
  // then (finite x) * (+0) = +-0, which leaves an fp32 chain started at +0 unchanged under rne (the
  // chain is never -0, and s + +-0 = s otherwise); so the result is the same bit for bit, as long as
  // every x is finite (a NaN or Inf times 0 would be NaN): checked first, else the im2col path. The
  // same works at any stride, but at stride 2 it measured slower than im2col on the ResNet-20 shapes
  // (bench_conv_stages: the 1x1 projections at half the rate, the 14->7 product at 0.75-0.9 of it).
  if (p.stride_h == 1 && all_finite(x.ptr(), x.data.size())) {
    const PhasePlanes L(C, H, W, KH, KW, p.stride_h, p.pad_h, p.pad_h, OH, OW);
    const std::int64_t next = L.extended(), plane = L.size();
    // Phase 1, images over threads: every image's phase planes and dy^T panels (B), built once.
    if (static_cast<std::int64_t>(xpad_all_.size()) != N * plane) xpad_all_.assign(static_cast<std::size_t>(N * plane), 0.0f);
    dyt_all_.resize(static_cast<std::size_t>(N));
    detail::run_blocks(N, threads, [&](std::int64_t n0, std::int64_t n1) {
      std::vector<float> dyext(static_cast<std::size_t>(CO * next), 0.0f);
      for (std::int64_t n = n0; n < n1; ++n) {
        L.embed(x.ptr() + n * C * H * W, xpad_all_.data() + n * plane);
        embed_planes(dy.ptr() + n * CO * P, CO, OH, OW, dyext.data(), OH, L.Wq, 0, 0);  // +0 in columns OW..Wq-1
        pack_panels_transposed(dyext.data(), next, next, CO, dyt_all_[static_cast<std::size_t>(n)]);
      }
    });
    // Phase 2, rows k over threads: each element's chain runs through the images in order.
    detail::run_blocks(blocks, threads, [&](std::int64_t b0, std::int64_t b1) {
      const std::int64_t k0 = b0 * 8, k1 = std::min(K, b1 * 8);
      std::vector<const float*> rows(static_cast<std::size_t>(k1 - k0));
      for (std::int64_t n = 0; n < N; ++n) {
        const float* xp = xpad_all_.data() + n * plane;
        for (std::int64_t k = k0; k < k1; ++k) rows[static_cast<std::size_t>(k - k0)] = L.tap(xp, k);
        gemm_panels_arows(rows.data(), k1 - k0, dyt_all_[static_cast<std::size_t>(n)],
                          transposed_grad_.data() + k0 * CO, CO, n > 0);
      }
    });
  } else {
    detail::run_blocks(blocks, threads, [&](std::int64_t b0, std::int64_t b1) {
      const std::int64_t k0 = b0 * 8, k1 = std::min(K, b1 * 8);
      std::vector<float> rows(static_cast<std::size_t>((k1 - k0) * P));
      Panels dyt;
      for (std::int64_t n = 0; n < N; ++n) {
        im2col(x.ptr() + n * C * H * W, H, W, KH, KW, OH, OW, p.stride_h, p.pad_h, k0, k1,
               RowsOut{rows.data(), P, k0});
        pack_panels_transposed(dy.ptr() + n * CO * P, P, P, CO, dyt);
        gemm_panels(rows.data(), P, k1 - k0, dyt, transposed_grad_.data() + k0 * CO, CO, n > 0);
      }
    });
  }
  for (std::int64_t co = 0; co < CO; ++co)
    for (std::int64_t k = 0; k < K; ++k)
      dw.data[static_cast<std::size_t>(co * K + k)] = transposed_grad_[static_cast<std::size_t>(k * CO + co)];
  if (dbias) {
    // db[co]: the chain over (n, oh, ow) of dy * 1 in fp32 (a float addition is that fused step).
    dbias->reshape(Nchw{1, CO, 1, 1});
    for (std::int64_t co = 0; co < CO; ++co) {
      float acc = 0.0f;
      for (std::int64_t n = 0; n < N; ++n) {
        const float* d = dy.ptr() + (n * CO + co) * P;
        for (std::int64_t q = 0; q < P; ++q) acc += d[q];
      }
      dbias->data[static_cast<std::size_t>(co)] = acc;
    }
  }
}

}  // namespace bitsim::sim::nn
