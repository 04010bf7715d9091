// `bitsim golden gemm|conv|attention ...`: a test-vector bundle (HDF5 + $readmemh hex files) for a GEMM with random
// inputs from a seed. Bundle layout: docs/golden-vectors.md.
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/gemm_options.hpp"
#include "hw/golden_bundle.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "sim/kernels/conv2d.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/tensor/shape.hpp"
#include "sim/tensor/tensor.hpp"
#include "sim/tensor/tensor_policy.hpp"
#include "io/version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <tuple>

namespace bitsim::cli {

using hw::Bundle;
using hw::BundleTensor;
using hw::write_bundle;

namespace {

struct GoldenGemmOptions {
  GemmOptions gemm;
  std::int64_t m = 4, k = 16, n = 4;
  std::uint64_t seed = 0;
  std::string dist = "normal";
  double scale = 1.0;
  std::string out;
};

int fail(const std::string& message) {
  std::cerr << "bitsim golden: " << message << "\n";
  return kExitBadInput;
}

// Bundle sizes: every element is computed on the golden path, stored as value and code in HDF5 and as
// a hex line; these bounds keep a bundle below a few hundred MB.
constexpr std::int64_t kMaxGemmMatrix = std::int64_t{1} << 24;
constexpr std::int64_t kMaxConvTensor = std::int64_t{1} << 22;

// Random inputs from Philox4x32-10 words (2 per value): uniform in [-scale, scale), or normal with
// standard deviation `scale` by Box-Muller. The inputs are stored in the bundle; the seed reproduces
// them bit for bit on any machine whose libm rounds log/cos/sqrt the same way.
std::vector<double> random_values(std::int64_t count, std::uint64_t seed, std::uint64_t stream, const std::string& dist,
                                  double scale) {
  const formats::PhiloxWords words(seed);
  std::vector<double> v(static_cast<std::size_t>(count));
  const std::uint64_t base = stream << 40;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t w0 = words.word(base + 2 * static_cast<std::uint64_t>(i)),
                        w1 = words.word(base + 2 * static_cast<std::uint64_t>(i) + 1);
    const double u = static_cast<double>((w0 >> 5) * 67108864ull + (w1 >> 6)) * 0x1p-53;  // [0, 1), 53 bits
    if (dist == "uniform") {
      v[static_cast<std::size_t>(i)] = scale * (2 * u - 1);
    } else {
      const double u1 = 1 - u;  // (0, 1]
      const double u2 = static_cast<double>(w1 & 0xFFFFF) * 0x1p-20;
      v[static_cast<std::size_t>(i)] = scale * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    }
  }
  return v;
}

BundleTensor tensor_of(const std::string& name, const std::string& role, std::vector<std::int64_t> shape,
                       const formats::Format& f, const std::vector<double>& values_in, bool quantize) {
  BundleTensor t;
  t.name = name;
  t.role = role;
  t.shape = std::move(shape);
  t.format = f.to_string();
  t.width = f.width();
  const formats::Quantizer q(f);
  t.values.resize(values_in.size());
  t.codes.resize(values_in.size());
  for (std::size_t i = 0; i < values_in.size(); ++i) {
    const formats::Quantized r = q.quantize(values_in[i]);  // exact for values already in the format
    t.values[i] = quantize ? r.value : values_in[i];
    t.codes[i] = *r.code;
  }
  return t;
}

// The GEMM configuration and the input generator's options; returns an error message or "".
std::string build_config(const GoldenGemmOptions& o, const CLI::App& cmd, sim::GemmConfig& c) {
  if (std::string error = make_gemm_config(o.gemm, cmd, c); !error.empty()) return error;
  if (o.dist != "normal" && o.dist != "uniform") return fmt::format("--dist: expected normal or uniform, got '{}'", o.dist);
  if (!(o.scale > 0) || !std::isfinite(o.scale)) return "--scale must be a positive finite number";
  return "";
}

std::map<std::string, std::string> config_attributes(const GoldenGemmOptions& o, const sim::GemmConfig& c) {
  return {{"a_format", c.a_format.to_string()},
          {"b_format", c.b_format.to_string()},
          {"product", c.product ? c.product->to_string() : "exact"},
          {"acc", c.acc ? c.acc->to_string() : "exact"},
          {"order", sim::acc_order_text(c)},
          {"chunk", std::to_string(o.gemm.chunk)},
          {"out_format", c.out_format.to_string()},
          {"rounding", o.gemm.rounding},
          {"seed", std::to_string(o.seed)},
          {"dist", fmt::format("{} scale {}", o.dist, o.scale)},
          {"generator", io::version_line()}};
}

BundleTensor output_tensor(const std::string& name, std::vector<std::int64_t> shape, const formats::Format& f,
                           const std::vector<double>& values) {
  // Output values are exact values of f: encoding them is exact (no second rounding).
  return tensor_of(name, "output", std::move(shape), f, values, true);
}

struct GoldenConvOptions {
  GoldenGemmOptions g;
  std::int64_t n = 2, c = 4, h = 6, w = 6, k = 4, kh = 3, kw = 3;
  std::int64_t stride = 1, pad = 1, dilation = 1, groups = 1;
};

int run_golden_conv(const GoldenConvOptions& o, const CLI::App& cmd) {
  sim::GemmConfig c;
  if (std::string err = build_config(o.g, cmd, c); !err.empty()) return fail(err);
  for (auto [v, name] : {std::pair{o.n, "--n"}, {o.c, "--c"}, {o.h, "--h"}, {o.w, "--w"}, {o.k, "--k"}, {o.kh, "--kh"},
                         {o.kw, "--kw"}, {o.stride, "--stride"}, {o.dilation, "--dilation"}, {o.groups, "--groups"}})
    if (v < 1 || v > 4096) return fail(fmt::format("{} {}: must be 1..4096", name, v));
  if (o.pad < 0 || o.pad > 4096) return fail(fmt::format("--pad {}: must be 0..4096", o.pad));
  sim::Conv2dParams p;
  p.stride_h = p.stride_w = o.stride;
  p.pad_h = p.pad_w = o.pad;
  p.dilation_h = p.dilation_w = o.dilation;
  p.groups = o.groups;
  const sim::Nchw xs{o.n, o.c, o.h, o.w}, ws{o.k, o.groups > 0 ? o.c / o.groups : 0, o.kh, o.kw};
  if (o.c % o.groups != 0 || o.k % o.groups != 0)
    return fail(fmt::format("--groups {} must divide --c {} and --k {}", o.groups, o.c, o.k));
  sim::Nchw ys;
  try {
    ys = sim::conv2d_output_shape(xs, ws, p);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  // Each dimension is at most 4096, so these products cannot overflow.
  if (xs.numel() > kMaxConvTensor) return fail(fmt::format("--n --c --h --w: x would have {} elements, more than the limit of 2^22", xs.numel()));
  if (ws.numel() > kMaxConvTensor) return fail(fmt::format("--k --c --kh --kw: w would have {} elements, more than the limit of 2^22", ws.numel()));
  if (ys.numel() > kMaxConvTensor) return fail(fmt::format("y would have {} elements, more than the limit of 2^22", ys.numel()));
  const sim::NchwArray x(xs, random_values(xs.numel(), o.g.seed, 0, o.g.dist, o.g.scale));
  const sim::NchwArray w(ws, random_values(ws.numel(), o.g.seed, 1, o.g.dist, o.g.scale));
  const sim::NchwArray dy(ys, random_values(ys.numel(), o.g.seed, 2, o.g.dist, o.g.scale));
  sim::NchwArray y, dx, dw;
  try {
    y = sim::conv2d_forward(c, x, w, p);
    dx = sim::conv2d_backward_input(c, dy, w, xs, p);
    dw = sim::conv2d_backward_weight(c, x, dy, ws, p);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  auto dims = [](const sim::Nchw& s) { return std::vector<std::int64_t>{s.n, s.c, s.h, s.w}; };
  Bundle bundle;
  bundle.kind = "conv2d";
  bundle.attributes = config_attributes(o.g, c);
  bundle.attributes["stride"] = std::to_string(o.stride);
  bundle.attributes["padding"] = std::to_string(o.pad);
  bundle.attributes["dilation"] = std::to_string(o.dilation);
  bundle.attributes["groups"] = std::to_string(o.groups);
  bundle.attributes["semantics"] =
      "sim/kernels/conv2d.hpp: y = conv(x, w) with A = x (a_format), B = w (b_format); dx from A = dy (a_format), B = w "
      "(b_format); dw from A = dy (a_format), B = x (b_format); each element one gemm.md dot product";
  const formats::Format fp64 = formats::parse_format("fp64");
  try {
    bundle.tensors.push_back(tensor_of("x_raw", "input", dims(xs), fp64, x.data, false));
    bundle.tensors.push_back(tensor_of("w_raw", "input", dims(ws), fp64, w.data, false));
    bundle.tensors.push_back(tensor_of("dy_raw", "input", dims(ys), fp64, dy.data, false));
    bundle.tensors.push_back(tensor_of("x_a", "input", dims(xs), c.a_format, x.data, true));
    bundle.tensors.push_back(tensor_of("x_b", "input", dims(xs), c.b_format, x.data, true));
    bundle.tensors.push_back(tensor_of("w_b", "input", dims(ws), c.b_format, w.data, true));
    bundle.tensors.push_back(tensor_of("dy_a", "input", dims(ys), c.a_format, dy.data, true));
    bundle.tensors.push_back(output_tensor("y", dims(ys), c.out_format, y.data));
    bundle.tensors.push_back(output_tensor("dx", dims(xs), c.out_format, dx.data));
    bundle.tensors.push_back(output_tensor("dw", dims(ws), c.out_format, dw.data));
    write_bundle(bundle, o.g.out);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::cout << fmt::format("wrote {} (bundle.h5, hex files of x, w, dy, y, dx, dw, manifest.txt)\n", o.g.out);
  return 0;
}

// An operand given as an MX policy (--a-format mxfp8_e4m3, mx(element=F,block=K)): quantized in
// blocks of K along the reduction axis k (A's rows, B's columns), the GEMM reading its decoded values
// (element times 2^scale, exact in double).
struct MxOperand {
  std::optional<sim::TensorPolicy> policy;  // empty: a plain format operand
  sim::Matrix decoded;                      // the values the GEMM reads, in the operand's own layout
  BundleTensor elements, scales;
};

// Parses --a-format / --b-format as an MX policy when it names one; returns an error message or "".
std::string mx_policy_of(const std::string& option, const std::string& text, std::optional<sim::TensorPolicy>& out) {
  if (!sim::names_policy(text)) return "";
  try {
    sim::TensorPolicy p = sim::parse_policy(text);
    if (p.kind() != sim::PolicyKind::mx)
      return fmt::format("{} '{}': only MX policies (mxfp8_e4m3, ..., mx(element=F,block=K)) may replace a format", option, text);
    out = std::move(p);
  } catch (const std::exception& e) {
    return fmt::format("{} '{}': {}", option, text, e.what());
  }
  return "";
}

// Quantizes `values` (rows x cols, row-major) with an MX policy in blocks along the rows (along_rows:
// blocks run down each column, as for B whose reduction axis is its first) or along the columns (A).
void quantize_mx(MxOperand& op, const std::string& name, const std::vector<double>& values, std::int64_t rows, std::int64_t cols,
                 bool along_rows) {
  // The tensor's last axis must be the reduction axis: B is quantized as its transpose.
  const std::int64_t outer = along_rows ? cols : rows, inner = along_rows ? rows : cols;
  auto at = [&](std::int64_t o, std::int64_t i) { return static_cast<std::size_t>(along_rows ? i * cols + o : o * cols + i); };
  std::vector<double> lanes(values.size());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) lanes[static_cast<std::size_t>(o * inner + i)] = values[at(o, i)];
  sim::Tensor t(sim::Shape{outer, inner}, *op.policy);
  t.quantize(std::span<const double>(lanes));
  std::vector<double> dec(lanes.size());
  t.decode(std::span<double>(dec));
  const formats::Format& element = op.policy->format();
  const formats::Quantizer q(element);
  const std::int64_t block = op.policy->block(), blocks = (inner + block - 1) / block;
  op.decoded = sim::Matrix(rows, cols);
  op.elements = BundleTensor{name, {rows, cols}, element.to_string(), element.width(), {}, {}, "input"};
  op.elements.values.assign(values.size(), 0.0);
  op.elements.codes.assign(values.size(), 0);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      const std::uint64_t code = *t.code(o * inner + i);
      op.decoded.data[at(o, i)] = dec[static_cast<std::size_t>(o * inner + i)];
      op.elements.codes[at(o, i)] = code;
      op.elements.values[at(o, i)] = q.decode(code);
    }
  // Scales: A's [rows, blocks], B's [blocks, cols] (each in the operand's own orientation).
  op.scales = BundleTensor{name + "_scale", along_rows ? std::vector<std::int64_t>{blocks, cols} : std::vector<std::int64_t>{rows, blocks},
                           "e8m0", 8, {}, {}, "input"};
  op.scales.codes.assign(static_cast<std::size_t>(outer * blocks), 0);
  op.scales.values.assign(op.scales.codes.size(), 0.0);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const sim::GroupScale g = t.group_scale(o * blocks + b);
      const auto k = static_cast<std::size_t>(along_rows ? b * outer + o : o * blocks + b);
      op.scales.codes[k] = g.e8m0;
      op.scales.values[k] = g.scale;
    }
}

int run_golden_gemm(const GoldenGemmOptions& o_in, const CLI::App& cmd) {
  GoldenGemmOptions o = o_in;
  MxOperand mx_a, mx_b;
  if (std::string err = mx_policy_of("--a-format", o.gemm.a_format, mx_a.policy); !err.empty()) return fail(err);
  if (std::string err = mx_policy_of("--b-format", o.gemm.b_format, mx_b.policy); !err.empty()) return fail(err);
  // An MX operand enters the GEMM as its decoded values, exact in double: fp64 is the identity on them.
  if (mx_a.policy) o.gemm.a_format = "fp64";
  if (mx_b.policy) o.gemm.b_format = "fp64";
  sim::GemmConfig c;
  if (std::string err = build_config(o, cmd, c); !err.empty()) return fail(err);
  for (auto [v, name] : {std::pair{o.m, "--m"}, {o.k, "--k"}, {o.n, "--n"}})
    if (v < 1) return fail(fmt::format("{} {}: must be >= 1", name, v));
  for (auto [rows, cols, what] : {std::tuple{o.m, o.k, "--m x --k (A)"}, {o.k, o.n, "--k x --n (B)"}, {o.m, o.n, "--m x --n (C)"}})
    if (!sim::product_within({rows, cols}, kMaxGemmMatrix))
      return fail(fmt::format("{}: {} x {} elements is more than the limit of 2^24 per matrix", what, rows, cols));
  sim::Matrix a(o.m, o.k), b(o.k, o.n);
  a.data = random_values(o.m * o.k, o.seed, 0, o.dist, o.scale);
  b.data = random_values(o.k * o.n, o.seed, 1, o.dist, o.scale);
  try {
    if (mx_a.policy) quantize_mx(mx_a, "A", a.data, o.m, o.k, false);
    if (mx_b.policy) quantize_mx(mx_b, "B", b.data, o.k, o.n, true);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  sim::GemmResult r;
  try {
    r = sim::gemm(c, mx_a.policy ? mx_a.decoded : a, mx_b.policy ? mx_b.decoded : b);
  } catch (const sim::GemmError& e) {
    return fail(with_option(e));
  }
  Bundle bundle;
  bundle.kind = "gemm";
  bundle.attributes = config_attributes(o, c);
  bundle.attributes["semantics"] = "docs/spec/gemm.md: C = round_out(acc(round_prod(round_A(a) * round_B(b))))";
  if (mx_a.policy || mx_b.policy) {
    bundle.attributes["mx"] =
        "docs/golden-vectors.md: an MX operand is quantized in blocks along k (OCP MX v1.0: E8M0 scale X = 2^(floor(log2 "
        "amax) - emax_elem), saturating elements); the GEMM reads element * X, exact, with a_format/b_format fp64";
    if (mx_a.policy) bundle.attributes["a_format"] = mx_a.policy->to_string();
    if (mx_b.policy) bundle.attributes["b_format"] = mx_b.policy->to_string();
  }
  try {
    // Each operand: its raw values, then its rounded codes, or an MX operand's element codes and scales.
    auto add_operand = [&](const std::string& name, std::vector<std::int64_t> shape, const std::vector<double>& raw, const MxOperand& mx,
                           const formats::Format& format) {
      bundle.tensors.push_back(tensor_of(name + "_raw", "input", shape, formats::parse_format("fp64"), raw, false));
      if (mx.policy) {
        bundle.tensors.push_back(mx.elements);
        bundle.tensors.push_back(mx.scales);
      } else {
        bundle.tensors.push_back(tensor_of(name, "input", shape, format, raw, true));
      }
    };
    add_operand("A", {o.m, o.k}, a.data, mx_a, c.a_format);
    add_operand("B", {o.k, o.n}, b.data, mx_b, c.b_format);
    BundleTensor ct;
    ct.name = "C";
    ct.role = "output";
    ct.shape = {o.m, o.n};
    ct.format = c.out_format.to_string();
    ct.width = c.out_format.width();
    ct.values = r.values.data;
    ct.codes = r.codes;
    bundle.tensors.push_back(std::move(ct));
    write_bundle(bundle, o.out);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::cout << fmt::format("wrote {} (bundle.h5, A.hex, B.hex, C.hex, raw inputs, manifest.txt); path: {}\n", o.out,
                           sim::gemm_path_name(r.path));
  return 0;
}

struct GoldenAttentionOptions {
  GoldenGemmOptions g;
  std::int64_t tokens = 16, dim = 32;
  std::string score_format = "fp32", prob_format = "fp32";
};

// One attention head's forward as the engine's attention layer computes it (attention_layer.hpp), on the
// golden path: every product and sum is sim::gemm under the options' accumulation, and each fp32 step of
// the layer is a rounding (rne) to --out-format, so with --out-format fp32 the bundle is what the
// engine's layer gives with ATT_S = --score-format and ATT_P = --prob-format (a test checks this).
int run_golden_attention(const GoldenAttentionOptions& o, const CLI::App& cmd) {
  sim::GemmConfig c;
  if (std::string err = build_config(o.g, cmd, c); !err.empty()) return fail(err);
  for (auto [v, name] : {std::pair{o.tokens, "--tokens"}, {o.dim, "--dim"}})
    if (v < 1 || v > 4096) return fail(fmt::format("{} {}: must be 1..4096", name, v));
  formats::Format score_f = c.out_format, prob_f = c.out_format;
  for (auto [text, f, name] : {std::tuple{&o.score_format, &score_f, "--score-format"}, {&o.prob_format, &prob_f, "--prob-format"}}) {
    try {
      *f = formats::parse_format(*text);
    } catch (const std::exception& e) {
      return fail(fmt::format("{} '{}': {}", name, *text, e.what()));
    }
  }
  const std::int64_t T = o.tokens, d = o.dim;
  sim::Matrix q(T, d), k(T, d), v(T, d);
  q.data = random_values(T * d, o.g.seed, 0, o.g.dist, o.g.scale);
  k.data = random_values(T * d, o.g.seed, 1, o.g.dist, o.g.scale);
  v.data = random_values(T * d, o.g.seed, 2, o.g.dist, o.g.scale);
  // The later products read operands that are already values of their formats: fp64 inputs keep them.
  sim::GemmConfig rounded = c;
  rounded.a_format = rounded.b_format = formats::parse_format("fp64");
  const formats::Quantizer out_q(c.out_format), score_q(score_f), prob_q(prob_f);
  auto out = [&](double x) { return out_q.quantize(x).value; };
  sim::Matrix s(T, T), e(T, T), p(T, T), z(T, 1), ones(T, 1), o_mat;
  std::fill(ones.data.begin(), ones.data.end(), 1.0);
  try {
    sim::Matrix kt(d, T);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t j = 0; j < d; ++j) kt(j, t) = k(t, j);
    const sim::Matrix qk = sim::gemm(c, q, kt).values;
    const double scale = out(1.0 / std::sqrt(static_cast<double>(d)));
    for (std::size_t i = 0; i < s.data.size(); ++i) s.data[i] = score_q.quantize(out(qk.data[i] * scale)).value;
    for (std::int64_t t = 0; t < T; ++t) {
      double m = -INFINITY;
      for (std::int64_t u = 0; u < T; ++u) m = std::max(m, s(t, u));
      for (std::int64_t u = 0; u < T; ++u) e(t, u) = out(std::exp(out(s(t, u) - m)));
    }
    z = sim::gemm(rounded, e, ones).values;
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t u = 0; u < T; ++u) p(t, u) = prob_q.quantize(out(e(t, u) / z(t, 0))).value;
    sim::GemmConfig pv = rounded;
    pv.b_format = c.b_format;  // V rounded to the b-format, as K
    o_mat = sim::gemm(pv, p, v).values;
  } catch (const sim::GemmError& err) {
    return fail(with_option(err));
  } catch (const std::exception& err) {
    return fail(err.what());
  }
  Bundle bundle;
  bundle.kind = "attention";
  bundle.attributes = config_attributes(o.g, c);
  bundle.attributes["tokens"] = std::to_string(T);
  bundle.attributes["dim"] = std::to_string(d);
  bundle.attributes["score_format"] = score_f.to_string();
  bundle.attributes["prob_format"] = prob_f.to_string();
  bundle.attributes["semantics"] =
      "docs/golden-vectors.md, attention: S = round_score(out(out(gemm(Q, K^T)) * out(1/sqrt(dim)))); "
      "e = out(exp(out(S - rowmax S))); z = gemm(e, ones); P = round_prob(out(e / z)); O = gemm(P, V); "
      "Q in a_format, K and V in b_format, out() rounds rne to out_format";
  const formats::Format fp64 = formats::parse_format("fp64");
  try {
    bundle.tensors.push_back(tensor_of("Q_raw", "input", {T, d}, fp64, q.data, false));
    bundle.tensors.push_back(tensor_of("K_raw", "input", {T, d}, fp64, k.data, false));
    bundle.tensors.push_back(tensor_of("V_raw", "input", {T, d}, fp64, v.data, false));
    bundle.tensors.push_back(tensor_of("Q", "input", {T, d}, c.a_format, q.data, true));
    bundle.tensors.push_back(tensor_of("K", "input", {T, d}, c.b_format, k.data, true));
    bundle.tensors.push_back(tensor_of("V", "input", {T, d}, c.b_format, v.data, true));
    bundle.tensors.push_back(output_tensor("S", {T, T}, score_f, s.data));
    bundle.tensors.push_back(output_tensor("z", {T, 1}, c.out_format, z.data));
    bundle.tensors.push_back(output_tensor("P", {T, T}, prob_f, p.data));
    bundle.tensors.push_back(output_tensor("O", {T, d}, c.out_format, o_mat.data));
    write_bundle(bundle, o.g.out);
  } catch (const std::exception& err) {
    return fail(err.what());
  }
  std::cout << fmt::format("wrote {} (bundle.h5, hex files of Q, K, V, S, z, P, O, manifest.txt)\n", o.g.out);
  return 0;
}

// The options shared by every bundle kind: formats, accumulation, rounding, inputs and output directory.
void add_product_options(CLI::App* cmd, GoldenGemmOptions& o, const char* a_help, const char* b_help, const char* out_help) {
  add_gemm_options(*cmd, o.gemm, a_help, b_help, out_help);
  cmd->add_option("--seed", o.seed, "seed of the Philox4x32-10 input generator (default 0)");
  cmd->add_option("--dist", o.dist, "normal (default) or uniform");
  cmd->add_option("--scale", o.scale, "standard deviation (normal) or half-width (uniform) of the raw inputs (default 1)");
  cmd->add_option("--out", o.out, "bundle directory to create")->required();
}

}  // namespace

Runner add_golden_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("golden", "Write test-vector bundles (HDF5 + $readmemh hex files) for hardware test benches");
  cmd->require_subcommand(1);
  const char* exit_status =
      "Exit status: 0 success; 2 bad options or sizes (a message naming the option; an existing --out that is not a\n"
      "bundle is never replaced).\n";
  cmd->footer(std::string("Bundle layout: docs/golden-vectors.md.\n") + exit_status +
              "Example: bitsim golden gemm --m 8 --k 32 --n 8 --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 "
              "--out-format bf16 --out gemm_e4m3");
  auto o = std::make_shared<GoldenGemmOptions>();
  CLI::App* g = cmd->add_subcommand("gemm", "A GEMM with random inputs from a seed (layout: docs/golden-vectors.md)");
  g->add_option("--m", o->m, "rows of A and C (default 4)");
  g->add_option("--k", o->k, "columns of A, rows of B (default 16)");
  g->add_option("--n", o->n, "columns of B and C (default 4)");
  add_product_options(g, *o, "format of A", "format of B", "format of C");
  g->footer(std::string("A (M x K) and B (K x N) are drawn from --seed; C follows docs/spec/gemm.md. Each matrix holds at most\n"
                        "2^24 elements.\n") +
            exit_status +
            "Example: bitsim golden gemm --m 8 --k 32 --n 8 --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 "
            "--out-format bf16 --out gemm_e4m3");
  auto co = std::make_shared<GoldenConvOptions>();
  CLI::App* v = cmd->add_subcommand("conv", "A conv2d layer: forward, input and weight gradients, random inputs from a seed");
  v->add_option("--n", co->n, "batch (default 2)");
  v->add_option("--c", co->c, "input channels (default 4)");
  v->add_option("--h", co->h, "input height (default 6)");
  v->add_option("--w", co->w, "input width (default 6)");
  v->add_option("--k", co->k, "output channels (default 4)");
  v->add_option("--kh", co->kh, "kernel height (default 3)");
  v->add_option("--kw", co->kw, "kernel width (default 3)");
  v->add_option("--stride", co->stride, "stride (default 1)");
  v->add_option("--pad", co->pad, "zero padding (default 1)");
  v->add_option("--dilation", co->dilation, "dilation (default 1)");
  v->add_option("--groups", co->groups, "groups (default 1)");
  add_product_options(v, co->g, "format of each product's A operand (x forward; dy backward)",
                      "format of each product's B operand (w; x for the weight gradient)", "format of y, dx and dw");
  v->footer(std::string("x, w and dy are drawn from --seed; y, dx and dw are computed with the accumulation of docs/spec/gemm.md.\n"
                        "Each dimension is 1..4096 (pad 0..4096) and each tensor holds at most 2^22 elements.\n") +
            exit_status +
            "Example: bitsim golden conv --n 2 --c 8 --h 8 --w 8 --k 16 --stride 2 --a-format fp8_e4m3 --b-format "
            "fp8_e4m3 --acc fp32 --out-format fp32 --out conv_e4m3");
  auto ao = std::make_shared<GoldenAttentionOptions>();
  CLI::App* at = cmd->add_subcommand("attention", "One attention head's forward: softmax(Q K^T / sqrt(dim)) V, random Q, K, V from a seed");
  at->add_option("--tokens", ao->tokens, "tokens T: Q, K, V are T x dim (default 16)");
  at->add_option("--dim", ao->dim, "the head's dimension (default 32)");
  at->add_option("--score-format", ao->score_format, "format of the scores S (the engine's ATT_S role; default fp32)");
  at->add_option("--prob-format", ao->prob_format, "format of the probabilities P (the engine's ATT_P role; default fp32)");
  add_product_options(at, ao->g, "format of Q", "format of K and V", "format of each product's output and of the softmax's steps");
  at->footer(std::string("Q, K and V are drawn from --seed; every product and the softmax's row sums follow docs/spec/gemm.md.\n"
                         "--tokens and --dim are 1..4096.\n") +
             exit_status +
             "Example: bitsim golden attention --tokens 16 --dim 32 --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 "
             "--out-format fp32 --score-format bf16 --prob-format fp8_e4m3 --out attn_e4m3");
  return [o, g, co, v, ao, at] {
    if (g->parsed()) return run_golden_gemm(*o, *g);
    if (v->parsed()) return run_golden_conv(*co, *v);
    if (at->parsed()) return run_golden_attention(*ao, *at);
    return kExitBadInput;
  };
}

}  // namespace bitsim::cli
