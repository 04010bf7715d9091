#include "sim/kernels/elementwise.hpp"

#include "sim/kernels/exact_double.hpp"

#include "formats/golden.hpp"
#include "formats/quantizer.hpp"
#include "sim/kernels/conv2d.hpp"
#include "sim/runtime/task_split.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace bitsim::sim {

using formats::ExactInput;
using formats::FixedFormat;
using formats::FloatFormat;
using formats::Quantizer;
using formats::Rational;
using formats::Rounding;

namespace {

using detail::round_to_odd;

ExactInput exact_of_double(double x) { return ExactInput::from_double(x); }

// The single rounding of element-wise results to an OutSpec: fast array path on exact doubles or
// round-to-odd stand-ins, golden path on exact rationals for the rest.
class Rounder {
 public:
  Rounder(const OutSpec& out, const char* op) : out_(out), op_(op), q_(make(out, op)) {
    if (out.rounding.mode == Rounding::sr && !out.rng) throw OpError(fmt::format("{}: rounding sr needs OutSpec::rng", op));
    arrays_ = q_.supports_double_arrays();
    sr_bits_ = out.rounding.mode == Rounding::sr ? out.rounding.sr_bits : 0;
  }

  Rounding mode() const { return out_.rounding.mode; }

  // Whether the round-to-odd stand-in of an inexact pair with leading part hi rounds like the exact value.
  bool odd_ok(double hi) const {
    if (!arrays_ || !(std::fabs(hi) >= std::numeric_limits<double>::min())) return false;
    const formats::Format& f = out_.format;
    if (f.is<FloatFormat>()) {
      // p significant bits: round to odd at 53 bits is exact for p + 2 <= 53 (nearest and directed
      // modes), and for sr when the 2^-R sub-grid of the ulp is 2 bits coarser: p + R + 2 <= 53.
      const int p = f.as<FloatFormat>().m + 1;
      return sr_bits_ ? p + sr_bits_ <= 51 : p <= 50;
    }
    if (f.is<FixedFormat>()) {
      // grid 2^-F; the double's ulp 2^(ilogb(hi)-52) must be 2 bits finer (sr: 2 bits finer than 2^(-F-R)).
      const int F = f.as<FixedFormat>().f;
      return std::ilogb(hi) <= 50 - F - sr_bits_ - 1;
    }
    return false;  // Graham formats: golden path
  }

  // Rounds v (exact values or stand-ins) to the output; elements listed in `golden` are rounded from
  // exact_of(e) instead. Element e uses random word first_word + e.
  template <class ExactOf>
  std::vector<double> finish(const std::vector<double>& v, const std::vector<std::size_t>& golden, ExactOf exact_of) const {
    const std::size_t n = v.size();
    std::vector<double> res(n);
    std::vector<std::uint32_t> words;
    if (sr_bits_) {
      words.resize(n);
      out_.rng->fill(out_.first_word, words);
    }
    auto word = [&](std::size_t e) { return sr_bits_ ? words[e] : 0u; };
    auto scalar = [&](std::size_t e) {
      try {
        return q_.quantize(v[e], word(e)).value;
      } catch (const formats::QuantizeError& err) {
        throw OpError(fmt::format("{}: element {}: rounding to {}: {}", op_, e, out_.format.name(), err.what()));
      }
    };
    if (arrays_) {
      try {
        q_.quantize(std::span<const double>(v), std::span<double>(res), std::span<const std::uint32_t>(words));
      } catch (const formats::QuantizeError&) {
        for (std::size_t e = 0; e < n; ++e) (void)scalar(e);  // throws for the first bad element
        throw;
      }
    } else {
      std::vector<bool> skip(n, false);
      for (std::size_t e : golden) skip[e] = true;
      for (std::size_t e = 0; e < n; ++e)
        if (!skip[e]) res[e] = scalar(e);
    }
    for (std::size_t e : golden) {
      try {
        res[e] = formats::golden_quantize_exact(out_.format, exact_of(e), out_.rounding, word(e)).value;
      } catch (const formats::QuantizeError& err) {
        throw OpError(fmt::format("{}: element {}: rounding to {}: {}", op_, e, out_.format.name(), err.what()));
      }
    }
    return res;
  }

  // Values that are exact already (no golden path needed).
  std::vector<double> finish_exact(const std::vector<double>& v) const {
    return finish(v, {}, [&](std::size_t e) { return exact_of_double(v[e]); });
  }

 private:
  static Quantizer make(const OutSpec& out, const char* op) {
    try {
      return Quantizer(out.format, out.rounding);
    } catch (const formats::QuantizeError& e) {
      throw OpError(fmt::format("{}: output format {}: {}", op, out.format.name(), e.what()));
    }
  }

  const OutSpec& out_;
  const char* op_;
  Quantizer q_;
  bool arrays_ = false;
  int sr_bits_ = 0;
};

void check_same_length(std::size_t a, std::size_t b, const char* op) {
  if (a != b) throw KernelShapeError(fmt::format("{}: operands differ in length ({} and {} values)", op, a, b));
}

// round(a[e] + b(e)) exactly, b given by index.
template <class B> std::vector<double> add_impl(const OutSpec& out, std::span<const double> a, B b, const char* op) {
  const Rounder r(out, op);
  const std::size_t n = a.size();
  std::vector<double> v(n, 0.0);
  std::vector<std::size_t> golden;
  for (std::size_t e = 0; e < n; ++e) {
    const double x = a[e], y = b(e);
    const auto [s, lo] = detail::two_sum(x, y);
    if (!std::isfinite(s)) {
      if (std::isfinite(x) && std::isfinite(y)) golden.push_back(e);  // exact sum beyond the double range
      else v[e] = s;                                                  // NaN or an infinity, as IEEE
      continue;
    }
    if (lo == 0) {
      v[e] = s == 0 ? detail::zero_sum(s, x, y, r.mode()) : s;
    } else if (r.odd_ok(s)) {
      v[e] = round_to_odd(s, lo);
    } else {
      golden.push_back(e);
    }
  }
  return r.finish(v, golden, [&](std::size_t e) {
    return ExactInput::from_rational(formats::rational_from_double(a[e]) + formats::rational_from_double(b(e)));
  });
}

// round(a[e] * b(e)) exactly.
template <class B> std::vector<double> mul_impl(const OutSpec& out, std::span<const double> a, B b, const char* op) {
  const Rounder r(out, op);
  const std::size_t n = a.size();
  std::vector<double> v(n, 0.0);
  std::vector<std::size_t> golden;
  for (std::size_t e = 0; e < n; ++e) {
    const double x = a[e], y = b(e);
    const double p = x * y;
    if (!std::isfinite(x) || !std::isfinite(y) || x == 0 || y == 0) {
      v[e] = p;  // IEEE specials, and exact zeros with the XOR sign
      continue;
    }
    // fma's error term is exact unless the product is near the bottom of the double range.
    if (!std::isfinite(p) || std::fabs(p) < 0x1p-960) {
      golden.push_back(e);
      continue;
    }
    const double lo = std::fma(x, y, -p);
    if (lo == 0) v[e] = p;
    else if (r.odd_ok(p)) v[e] = round_to_odd(p, lo);
    else golden.push_back(e);
  }
  return r.finish(v, golden, [&](std::size_t e) {
    const double x = a[e], y = b(e);
    return ExactInput::from_rational(formats::rational_from_double(x) * formats::rational_from_double(y));
  });
}

const formats::Format& fp32_format() {
  static const formats::Format f = formats::parse_format("fp32");
  return f;
}

// The weight 1/n rounded once (rne) to `format`: the exact rational, not the double nearest 1/n.
double reciprocal_weight(const formats::Format& format, std::int64_t n) {
  try {
    return formats::golden_quantize_exact(format, ExactInput::from_rational(Rational(1, n)), {Rounding::rne, 32}).value;
  } catch (const formats::QuantizeError& e) {
    throw GemmError(fmt::format("the pooling weight 1/{} in format {}: {}", n, format.name(), e.what()), ErrorSite::at_key("b_format"));
  }
}

Conv2dParams pool_as_conv(const Pool2dParams& p, std::int64_t channels) {
  Conv2dParams c;
  c.stride_h = p.stride_h;
  c.stride_w = p.stride_w;
  c.pad_h = p.pad_h;
  c.pad_w = p.pad_w;
  c.groups = channels;
  return c;
}

void check_matrix(const Matrix& m, const char* what) {
  if (m.rows < 1 || m.cols < 1) throw KernelShapeError(fmt::format("{}: {} rows and {} columns, need >= 1 each", what, m.rows, m.cols));
  if (static_cast<std::int64_t>(m.data.size()) != m.rows * m.cols)
    throw KernelShapeError(fmt::format("{}: holds {} values, a {}x{} matrix needs {}", what, m.data.size(), m.rows, m.cols, m.rows * m.cols));
}

void check_labels(const Matrix& z, std::span<const std::int64_t> labels, const char* what) {
  check_matrix(z, what);
  if (static_cast<std::int64_t>(labels.size()) != z.rows)
    throw KernelShapeError(fmt::format("{}: {} labels for {} rows of logits", what, labels.size(), z.rows));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= z.cols)
      throw KernelShapeError(fmt::format("{}: labels[{}] = {} is outside the classes 0..{}", what, i, labels[i], z.cols - 1));
}

// Row-wise softmax in double, in the documented order; returns p and (if wanted) the per-row losses.
Matrix softmax_rows(const Matrix& z, std::span<const std::int64_t> labels, std::vector<double>* losses) {
  Matrix p(z.rows, z.cols);
  if (losses) losses->assign(static_cast<std::size_t>(z.rows), 0.0);
  for (std::int64_t i = 0; i < z.rows; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (std::int64_t j = 0; j < z.cols; ++j) {
      nan = nan || std::isnan(z(i, j));
      if (z(i, j) > m) m = z(i, j);
    }
    if (nan) m = std::numeric_limits<double>::quiet_NaN();  // a NaN logit makes the whole row NaN
    double s = 0;
    for (std::int64_t j = 0; j < z.cols; ++j) s += std::exp(z(i, j) - m);
    for (std::int64_t j = 0; j < z.cols; ++j) p(i, j) = std::exp(z(i, j) - m) / s;
    if (losses) (*losses)[static_cast<std::size_t>(i)] = (m + std::log(s)) - z(i, labels[static_cast<std::size_t>(i)]);
  }
  return p;
}

}  // namespace

// ---- element-wise ---------------------------------------------------------------------------------------

std::vector<double> round_to(const OutSpec& out, std::span<const double> x) {
  return Rounder(out, "round_to").finish_exact(std::vector<double>(x.begin(), x.end()));
}

std::vector<double> add(const OutSpec& out, std::span<const double> a, std::span<const double> b) {
  check_same_length(a.size(), b.size(), "add");
  return add_impl(out, a, [&](std::size_t e) { return b[e]; }, "add");
}

std::vector<double> mul(const OutSpec& out, std::span<const double> a, std::span<const double> b) {
  check_same_length(a.size(), b.size(), "mul");
  return mul_impl(out, a, [&](std::size_t e) { return b[e]; }, "mul");
}

std::vector<double> scale(const OutSpec& out, double s, std::span<const double> a) {
  return mul_impl(out, a, [s](std::size_t) { return s; }, "scale");
}

NchwArray residual_add(const OutSpec& out, const NchwArray& a, const NchwArray& b) {
  check_nchw(a, "residual_add: a");
  check_nchw(b, "residual_add: b");
  if (!(a.shape == b.shape))
    throw KernelShapeError(fmt::format("residual_add: shapes differ: a {} and b {}", a.shape.to_string(), b.shape.to_string()));
  return NchwArray(a.shape, add_impl(out, a.data, [&](std::size_t e) { return b.data[e]; }, "residual_add"));
}

std::vector<double> relu_forward(const OutSpec& out, std::span<const double> x) {
  std::vector<double> v(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) v[e] = (x[e] > 0 || std::isnan(x[e])) ? x[e] : 0.0;
  return Rounder(out, "relu_forward").finish_exact(v);
}

std::vector<double> relu_backward(const OutSpec& out, std::span<const double> x, std::span<const double> dy) {
  check_same_length(x.size(), dy.size(), "relu_backward");
  std::vector<double> v(x.size());
  for (std::size_t e = 0; e < x.size(); ++e)
    v[e] = std::isnan(x[e]) ? std::numeric_limits<double>::quiet_NaN() : x[e] > 0 ? dy[e] : 0.0;
  return Rounder(out, "relu_backward").finish_exact(v);
}

// ---- pooling ----------------------------------------------------------------------------------------------

Nchw pool2d_output_shape(const Nchw& x, const Pool2dParams& p) {
  check_shape(x, "pool2d: x");
  struct Axis {
    const char* name;
    std::int64_t in, k, s, pad;
  };
  const Axis axes[2] = {{"h", x.h, p.kernel_h, p.stride_h, p.pad_h}, {"w", x.w, p.kernel_w, p.stride_w, p.pad_w}};
  std::int64_t out[2];
  for (int i = 0; i < 2; ++i) {
    const Axis& a = axes[i];
    if (a.k < 1) throw KernelShapeError(fmt::format("pool2d: kernel_{} = {} must be >= 1", a.name, a.k));
    if (a.s < 1) throw KernelShapeError(fmt::format("pool2d: stride_{} = {} must be >= 1", a.name, a.s));
    if (a.pad < 0 || a.pad >= a.k)
      throw KernelShapeError(fmt::format("pool2d: pad_{} = {} must be in 0..kernel_{}-1 = {}", a.name, a.pad, a.name, a.k - 1));
    if (a.in + 2 * a.pad < a.k)
      throw KernelShapeError(fmt::format("pool2d: output {} would be empty: x.{} + 2*pad_{} = {} < kernel_{} = {}", a.name, a.name,
                                         a.name, a.in + 2 * a.pad, a.name, a.k));
    out[i] = (a.in + 2 * a.pad - a.k) / a.s + 1;
  }
  return {x.n, x.c, out[0], out[1]};
}

MaxPoolResult max_pool2d_forward(const OutSpec& out, const NchwArray& x, const Pool2dParams& p) {
  check_nchw(x, "max_pool2d_forward: x");
  const Nchw ys = pool2d_output_shape(x.shape, p);
  MaxPoolResult r;
  r.argmax.resize(static_cast<std::size_t>(ys.numel()));
  std::vector<double> v(static_cast<std::size_t>(ys.numel()));
  for (std::int64_t n = 0; n < ys.n; ++n)
    for (std::int64_t c = 0; c < ys.c; ++c)
      for (std::int64_t oh = 0; oh < ys.h; ++oh)
        for (std::int64_t ow = 0; ow < ys.w; ++ow) {
          std::int64_t best = -1;
          for (std::int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const std::int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= x.shape.h) continue;
            for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const std::int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw < 0 || iw >= x.shape.w) continue;
              const std::int64_t e = x.shape.at(n, c, ih, iw);
              const double xv = x.data[static_cast<std::size_t>(e)];
              if (best < 0) {
                best = e;
                continue;
              }
              const double bv = x.data[static_cast<std::size_t>(best)];
              if (!std::isnan(bv) && (std::isnan(xv) || xv > bv)) best = e;  // strict: the first of equals wins
            }
          }
          const std::size_t o = static_cast<std::size_t>(ys.at(n, c, oh, ow));
          r.argmax[o] = best;  // >= 0: pad < kernel puts an input element in every window
          v[o] = x.data[static_cast<std::size_t>(best)];
        }
  r.y = NchwArray(ys, Rounder(out, "max_pool2d_forward").finish_exact(v));
  return r;
}

NchwArray max_pool2d_backward(const GemmConfig& config, const NchwArray& dy, std::span<const std::int64_t> argmax,
                              const Nchw& x_shape, const Pool2dParams& p, int threads) {
  check_nchw(dy, "max_pool2d_backward: dy");
  const Nchw ys = pool2d_output_shape(x_shape, p);
  if (!(dy.shape == ys))
    throw KernelShapeError(fmt::format("max_pool2d_backward: dy has shape {}, pooling x of shape {} gives {}", dy.shape.to_string(),
                                       x_shape.to_string(), ys.to_string()));
  if (static_cast<std::int64_t>(argmax.size()) != ys.numel())
    throw KernelShapeError(fmt::format("max_pool2d_backward: {} argmax entries for {} outputs", argmax.size(), ys.numel()));
  // Every argmax must lie in its own window (else the gradient would silently go elsewhere).
  for (std::int64_t n = 0; n < ys.n; ++n)
    for (std::int64_t c = 0; c < ys.c; ++c)
      for (std::int64_t oh = 0; oh < ys.h; ++oh)
        for (std::int64_t ow = 0; ow < ys.w; ++ow) {
          const std::int64_t o = ys.at(n, c, oh, ow), a = argmax[static_cast<std::size_t>(o)];
          const std::int64_t plane = x_shape.h * x_shape.w, ih = (a % plane) / x_shape.w, iw = a % x_shape.w;
          const std::int64_t dh = ih - (oh * p.stride_h - p.pad_h), dw = iw - (ow * p.stride_w - p.pad_w);
          if (a < 0 || a >= x_shape.numel() || a / plane != n * x_shape.c + c || dh < 0 || dh >= p.kernel_h || dw < 0 ||
              dw >= p.kernel_w)
            throw KernelShapeError(fmt::format("max_pool2d_backward: argmax[{}] = {} is not in the window of output [{}][{}][{}][{}]",
                                               o, a, n, c, oh, ow));
        }

  GemmConfig cfg = config;
  cfg.b_format = fp32_format();
  const std::int64_t KH = p.kernel_h, KW = p.kernel_w, K = KH * KW;
  const std::int64_t rows = x_shape.c * x_shape.h * x_shape.w;
  Matrix ones(K, 1);
  for (double& o : ones.data) o = 1.0;
  NchwArray dx(x_shape);
  // One GEMM per image: rows (c, ih, iw), K = (kh', kw') as documented.
  detail::run_tasks(x_shape.n, threads, [&](std::int64_t n, int inner) {
    Matrix a(rows, K);
    for (std::int64_t c = 0; c < x_shape.c; ++c)
      for (std::int64_t ih = 0; ih < x_shape.h; ++ih)
        for (std::int64_t iw = 0; iw < x_shape.w; ++iw) {
          const std::int64_t r = (c * x_shape.h + ih) * x_shape.w + iw, xe = x_shape.at(n, c, ih, iw);
          for (std::int64_t khp = 0; khp < KH; ++khp) {
            const std::int64_t th = ih + p.pad_h - (KH - 1 - khp);
            if (th < 0 || th % p.stride_h || th / p.stride_h >= ys.h) continue;
            for (std::int64_t kwp = 0; kwp < KW; ++kwp) {
              const std::int64_t tw = iw + p.pad_w - (KW - 1 - kwp);
              if (tw < 0 || tw % p.stride_w || tw / p.stride_w >= ys.w) continue;
              const std::int64_t o = ys.at(n, c, th / p.stride_h, tw / p.stride_w);
              if (argmax[static_cast<std::size_t>(o)] == xe) a(r, khp * KW + kwp) = dy.data[static_cast<std::size_t>(o)];
            }
          }
        }
    GemmResult g;
    try {
      g = gemm(cfg, a, ones, inner, false);
    } catch (const GemmError& e) {
      throw GemmError(fmt::format("max_pool2d_backward, image {} (C rows = (c, ih, iw)): {}", n, e.what()));
    }
    std::copy(g.values.data.begin(), g.values.data.end(), dx.data.begin() + n * rows);
  });
  return dx;
}

NchwArray avg_pool2d_forward(const GemmConfig& config, const NchwArray& x, const Pool2dParams& p, int threads) {
  check_nchw(x, "avg_pool2d_forward: x");
  (void)pool2d_output_shape(x.shape, p);
  NchwArray w(Nchw{x.shape.c, 1, p.kernel_h, p.kernel_w});
  const double weight = reciprocal_weight(config.b_format, p.kernel_h * p.kernel_w);
  for (double& v : w.data) v = weight;
  return conv2d_forward(config, x, w, pool_as_conv(p, x.shape.c), threads);
}

NchwArray avg_pool2d_backward(const GemmConfig& config, const NchwArray& dy, const Nchw& x_shape, const Pool2dParams& p,
                              int threads) {
  check_nchw(dy, "avg_pool2d_backward: dy");
  const Nchw ys = pool2d_output_shape(x_shape, p);
  if (!(dy.shape == ys))
    throw KernelShapeError(fmt::format("avg_pool2d_backward: dy has shape {}, pooling x of shape {} gives {}", dy.shape.to_string(),
                                       x_shape.to_string(), ys.to_string()));
  NchwArray w(Nchw{x_shape.c, 1, p.kernel_h, p.kernel_w});
  const double weight = reciprocal_weight(config.b_format, p.kernel_h * p.kernel_w);
  for (double& v : w.data) v = weight;
  return conv2d_backward_input(config, dy, w, x_shape, pool_as_conv(p, x_shape.c), threads);
}

NchwArray global_avg_pool_forward(const GemmConfig& config, const NchwArray& x, int threads) {
  check_nchw(x, "global_avg_pool_forward: x");
  return avg_pool2d_forward(config, x, Pool2dParams{x.shape.h, x.shape.w, 1, 1, 0, 0}, threads);
}

NchwArray global_avg_pool_backward(const GemmConfig& config, const NchwArray& dy, const Nchw& x_shape, int threads) {
  check_shape(x_shape, "global_avg_pool_backward: x_shape");
  return avg_pool2d_backward(config, dy, x_shape, Pool2dParams{x_shape.h, x_shape.w, 1, 1, 0, 0}, threads);
}

// ---- softmax cross-entropy ----------------------------------------------------------------------------------

SoftmaxCeResult softmax_cross_entropy_forward(const OutSpec& loss_out, const OutSpec& prob_out, const Matrix& logits,
                                              std::span<const std::int64_t> labels) {
  check_labels(logits, labels, "softmax_cross_entropy_forward");
  std::vector<double> losses;
  const Matrix p = softmax_rows(logits, labels, &losses);
  double sum = 0;
  for (double l : losses) sum += l;
  SoftmaxCeResult r;
  r.loss = Rounder(loss_out, "softmax_cross_entropy_forward (loss)").finish_exact({sum / static_cast<double>(logits.rows)})[0];
  r.probs = Matrix(logits.rows, logits.cols);
  r.probs.data = Rounder(prob_out, "softmax_cross_entropy_forward (probabilities)").finish_exact(p.data);
  return r;
}

Matrix softmax_cross_entropy_backward(const OutSpec& out, const Matrix& logits, std::span<const std::int64_t> labels) {
  check_labels(logits, labels, "softmax_cross_entropy_backward");
  Matrix g = softmax_rows(logits, labels, nullptr);
  const double n = static_cast<double>(logits.rows);
  for (std::int64_t i = 0; i < g.rows; ++i)
    for (std::int64_t j = 0; j < g.cols; ++j) g(i, j) = (g(i, j) - (j == labels[static_cast<std::size_t>(i)] ? 1.0 : 0.0)) / n;
  g.data = Rounder(out, "softmax_cross_entropy_backward").finish_exact(g.data);
  return g;
}

}  // namespace bitsim::sim
