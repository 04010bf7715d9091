// `bitsim golden gemm ...`: a test-vector bundle (HDF5 + $readmemh hex files) for a GEMM with random
// inputs from a seed. Bundle layout: docs/golden-vectors.md.
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/golden_bundle.hpp"
#include "formats/quantizer.hpp"
#include "formats/random_words.hpp"
#include "sim/gemm.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>

namespace bitsim::cli {

namespace {

struct GoldenGemmOptions {
  std::int64_t m = 4, k = 16, n = 4;
  std::string a_format, b_format, product = "exact", acc, order = "sequential", out_format, rounding = "rne";
  std::int64_t chunk = 0;
  std::uint64_t seed = 0;
  std::string dist = "normal";
  double scale = 1.0;
  std::string out;
};

int fail(const std::string& message) {
  std::cerr << "bitsim golden: " << message << "\n";
  return kExitBadInput;
}

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

int run_golden_gemm(const GoldenGemmOptions& o) {
  sim::GemmConfig c;
  try {
    c.a_format = formats::parse_format(o.a_format);
    c.b_format = formats::parse_format(o.b_format);
    if (o.product != "exact") c.product = formats::parse_format(o.product);
    if (o.acc != "exact") c.acc = formats::parse_format(o.acc);
    c.out_format = formats::parse_format(o.out_format);
  } catch (const formats::FormatError& e) {
    return fail(e.what());
  }
  if (o.order == "sequential") c.order = sim::AccOrder::sequential;
  else if (o.order == "pairwise") c.order = sim::AccOrder::pairwise;
  else if (o.order == "blocked") c.order = sim::AccOrder::blocked;
  else return fail(fmt::format("--order: unknown order '{}'", o.order));
  c.chunk = o.chunk;
  auto mode = formats::parse_rounding(o.rounding);
  if (!mode) return fail(fmt::format("--rounding: unknown mode '{}'", o.rounding));
  c.rounding = *mode;
  if (o.m < 1 || o.k < 1 || o.n < 1) return fail("--m, --k and --n must be >= 1");
  if (o.m * o.k > (1 << 24) || o.k * o.n > (1 << 24)) return fail("matrices above 2^24 elements are not supported");
  if (o.dist != "normal" && o.dist != "uniform") return fail(fmt::format("--dist: expected normal or uniform, got '{}'", o.dist));
  if (!(o.scale > 0) || !std::isfinite(o.scale)) return fail("--scale must be a positive finite number");
  try {
    sim::validate(c);
  } catch (const sim::GemmError& e) {
    return fail(e.what());
  }
  sim::Matrix a(o.m, o.k), b(o.k, o.n);
  a.data = random_values(o.m * o.k, o.seed, 0, o.dist, o.scale);
  b.data = random_values(o.k * o.n, o.seed, 1, o.dist, o.scale);
  sim::GemmResult r;
  try {
    r = sim::gemm(c, a, b);
  } catch (const sim::GemmError& e) {
    return fail(e.what());
  }
  Bundle bundle;
  bundle.kind = "gemm";
  bundle.attributes = {{"a_format", c.a_format.to_string()},
                       {"b_format", c.b_format.to_string()},
                       {"product", c.product ? c.product->to_string() : "exact"},
                       {"acc", c.acc ? c.acc->to_string() : "exact"},
                       {"order", o.order},
                       {"chunk", std::to_string(o.chunk)},
                       {"out_format", c.out_format.to_string()},
                       {"rounding", o.rounding},
                       {"seed", std::to_string(o.seed)},
                       {"dist", fmt::format("{} scale {}", o.dist, o.scale)},
                       {"semantics", "shared/spec/gemm.md: C = round_out(acc(round_prod(round_A(a) * round_B(b))))"},
                       {"generator", "bitsim 0.1.0"}};
  try {
    bundle.tensors.push_back(tensor_of("A_raw", "input", {o.m, o.k}, formats::parse_format("fp64"), a.data, false));
    bundle.tensors.push_back(tensor_of("A", "input", {o.m, o.k}, c.a_format, a.data, true));
    bundle.tensors.push_back(tensor_of("B_raw", "input", {o.k, o.n}, formats::parse_format("fp64"), b.data, false));
    bundle.tensors.push_back(tensor_of("B", "input", {o.k, o.n}, c.b_format, b.data, true));
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

}  // namespace

Runner add_golden_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("golden", "Write test-vector bundles (HDF5 + $readmemh hex files) for hardware test benches");
  cmd->require_subcommand(1);
  auto o = std::make_shared<GoldenGemmOptions>();
  CLI::App* g = cmd->add_subcommand("gemm", "A GEMM with random inputs from a seed (layout: docs/golden-vectors.md)");
  g->add_option("--m", o->m, "rows of A and C (default 4)");
  g->add_option("--k", o->k, "columns of A, rows of B (default 16)");
  g->add_option("--n", o->n, "columns of B and C (default 4)");
  g->add_option("--a-format", o->a_format, "format of A")->required();
  g->add_option("--b-format", o->b_format, "format of B")->required();
  g->add_option("--product", o->product, "exact (default) or a product format");
  g->add_option("--acc", o->acc, "exact or the accumulator format")->required();
  g->add_option("--order", o->order, "sequential (default), pairwise or blocked");
  g->add_option("--chunk", o->chunk, "chunk length for blocked");
  g->add_option("--out-format", o->out_format, "format of C")->required();
  g->add_option("--rounding", o->rounding, "rne (default), rna, rtz, rup, rdn");
  g->add_option("--seed", o->seed, "seed of the Philox4x32-10 input generator (default 0)");
  g->add_option("--dist", o->dist, "normal (default) or uniform");
  g->add_option("--scale", o->scale, "standard deviation (normal) or half-width (uniform) of the raw inputs (default 1)");
  g->add_option("--out", o->out, "bundle directory to create")->required();
  return [o, g] {
    if (g->parsed()) return run_golden_gemm(*o);
    return kExitBadInput;
  };
}

}  // namespace bitsim::cli
