// `bitsim gemm`: docs/spec/gemm.md.
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/matrix_text.hpp"
#include "formats/format_text.hpp"
#include "sim/gemm.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <string>

namespace bitsim::cli {

namespace {

struct GemmOptions {
  std::string a_file, b_file, a_format, b_format, product = "exact", acc, order = "sequential", out_format;
  std::string rounding = "rne";
  std::int64_t chunk = 0;
  bool codes = false;
  int threads = 1;
};

int fail(const std::string& message) {
  std::cerr << "bitsim gemm: " << message << "\n";
  return kExitBadInput;
}

int run_gemm(const GemmOptions& o, const CLI::App& cmd) {
  sim::GemmConfig c;
  auto format = [](const std::string& option, const std::string& spec) {
    try {
      return formats::parse_format(spec);
    } catch (const formats::FormatError& e) {
      throw std::runtime_error(fmt::format("{}: {}", option, e.what()));
    }
  };
  try {
    c.a_format = format("--a-format", o.a_format);
    c.b_format = format("--b-format", o.b_format);
    if (o.product != "exact") c.product = format("--product", o.product);
    if (o.acc != "exact") c.acc = format("--acc", o.acc);
    c.out_format = format("--out-format", o.out_format);
  } catch (const std::runtime_error& e) {
    return fail(e.what());
  }
  if (o.order == "sequential") c.order = sim::AccOrder::sequential;
  else if (o.order == "pairwise") c.order = sim::AccOrder::pairwise;
  else if (o.order == "blocked") c.order = sim::AccOrder::blocked;
  else return fail(fmt::format("--order: unknown order '{}' (expected sequential, pairwise or blocked)", o.order));
  if (cmd.count("--chunk") && o.chunk < 1) return fail(fmt::format("--chunk {}: must be >= 1", o.chunk));
  c.chunk = o.chunk;
  auto mode = formats::parse_rounding(o.rounding);
  if (!mode) return fail(fmt::format("--rounding: unknown mode '{}'", o.rounding));
  c.rounding = *mode;
  if (o.threads < 1) return fail("--threads must be >= 1");
  try {
    sim::validate(c);
  } catch (const sim::GemmError& e) {
    return fail(e.what());
  }
  sim::Matrix a, b;
  try {
    a = read_text_matrix(o.a_file);
    b = read_text_matrix(o.b_file);
  } catch (const std::runtime_error& e) {
    return fail(e.what());
  }
  if (a.cols != b.rows)
    return fail(fmt::format("{} has {} columns but {} has {} rows", o.a_file, a.cols, o.b_file, b.rows));
  sim::GemmResult r;
  try {
    r = sim::gemm(c, a, b, o.threads);
  } catch (const sim::GemmError& e) {
    // Name the input file for input-rounding errors (A[i][j] / B[i][j], 0-based).
    return fail(fmt::format("{} (A = {}, B = {}; indices from 0)", e.what(), o.a_file, o.b_file));
  }
  // Everything is computed before anything is printed: an error leaves stdout empty.
  std::string out;
  const int width = c.out_format.width();
  for (std::int64_t i = 0; i < r.values.rows; ++i) {
    for (std::int64_t j = 0; j < r.values.cols; ++j) {
      if (j) out += ' ';
      const std::size_t e = static_cast<std::size_t>(i * r.values.cols + j);
      out += o.codes ? formats::format_code(r.codes[e], width) : formats::format_hex_value(r.values.data[e]);
    }
    out += '\n';
  }
  std::cout << out;
  std::cout.flush();
  return std::cout ? 0 : fail("error writing standard output");
}

}  // namespace

Runner add_gemm_command(CLI::App& app) {
  auto o = std::make_shared<GemmOptions>();
  CLI::App* cmd = app.add_subcommand("gemm", "C = A x B with explicit input, product, accumulator and output rounding");
  cmd->footer(
      "A and B are text matrices (whitespace-separated numbers, one row per line). Every element of C is\n"
      "round_out(accumulate(round_prod(round_A(a) * round_B(b)))) as docs/spec/gemm.md defines; output rows\n"
      "are hex-float values, or codes with --codes. Bad input: a message naming the file, row and column or\n"
      "the option on stderr, exit status 2, nothing on stdout.\n"
      "Example: bitsim gemm --a A.txt --b B.txt --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 --out-format bf16");
  cmd->add_option("--a", o->a_file, "matrix A (text)")->required();
  cmd->add_option("--b", o->b_file, "matrix B (text)")->required();
  cmd->add_option("--a-format", o->a_format, "format of A's elements (rounded with rne)")->required();
  cmd->add_option("--b-format", o->b_format, "format of B's elements (rounded with rne)")->required();
  cmd->add_option("--product", o->product, "exact (default) or a format each product is rounded to");
  cmd->add_option("--acc", o->acc, "exact, or the accumulator's format")->required();
  cmd->add_option("--order", o->order, "sequential (default), pairwise or blocked");
  cmd->add_option("--chunk", o->chunk, "products per exact chunk for --order blocked");
  cmd->add_option("--out-format", o->out_format, "format of C")->required();
  cmd->add_option("--rounding", o->rounding, "rne (default), rna, rtz, rup, rdn: products, accumulator, output");
  cmd->add_flag("--codes", o->codes, "print C's codes instead of values");
  cmd->add_option("--threads", o->threads, "threads (results do not depend on it; default 1)");
  return [o, cmd] { return run_gemm(*o, *cmd); };
}

}  // namespace bitsim::cli
