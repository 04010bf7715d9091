// `bitsim gemm`: C = A x B from text matrices with the semantics of docs/spec/gemm.md.
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/gemm_options.hpp"
#include "apps/bitsim/matrix_text.hpp"
#include "formats/format_text.hpp"
#include "sim/kernels/gemm.hpp"
#include "sim/tensor/shape.hpp"
#include "sim/runtime/thread_pool.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <string>

namespace bitsim::cli {

namespace {

struct GemmCommandOptions {
  GemmOptions gemm;
  std::string a_file, b_file;
  bool codes = false;
  bool exact_input = false;
  int threads = 1;
};

// C's elements: every one is computed and printed; 2^26 of them are about 1.5 GB of text.
constexpr std::int64_t kMaxOutputElements = std::int64_t{1} << 26;

int fail(const std::string& message) {
  std::cerr << "bitsim gemm: " << message << "\n";
  return kExitBadInput;
}

int run_gemm(const GemmCommandOptions& o, const CLI::App& cmd) {
  sim::GemmConfig c;
  if (const std::string error = make_gemm_config(o.gemm, cmd, c); !error.empty()) return fail(error);
  if (o.threads < 0) return fail(fmt::format("--threads {}: must be >= 0 (0: all cores)", o.threads));
  const int threads = o.threads > 0 ? o.threads : sim::all_cores();
  // Default: every number read as the nearest double, then the kernels; --exact-input: as the exact
  // value its text spells, then the golden reference (one rounding from the exact value; slow).
  sim::Matrix a, b;
  sim::ExactMatrix xa, xb;
  try {
    if (o.exact_input) {
      xa = read_exact_text_matrix(o.a_file);
      xb = read_exact_text_matrix(o.b_file);
    } else {
      a = read_text_matrix(o.a_file);
      b = read_text_matrix(o.b_file);
    }
  } catch (const bitsim::Error& e) {
    return fail(e.what());
  }
  const std::int64_t a_rows = o.exact_input ? xa.rows : a.rows, a_cols = o.exact_input ? xa.cols : a.cols,
                     b_rows = o.exact_input ? xb.rows : b.rows, b_cols = o.exact_input ? xb.cols : b.cols;
  if (a_cols != b_rows) return fail(fmt::format("{} has {} columns but {} has {} rows", o.a_file, a_cols, o.b_file, b_rows));
  if (!sim::product_within({a_rows, b_cols}, kMaxOutputElements))
    return fail(fmt::format("C would have {} x {} elements (the rows of {}, the columns of {}), more than the limit of 2^26",
                            a_rows, b_cols, o.a_file, o.b_file));
  sim::GemmResult r;
  try {
    r = o.exact_input ? sim::gemm_reference(c, xa, xb) : sim::gemm(c, a, b, threads);
  } catch (const sim::GemmError& e) {
    // Name the input file for input-rounding errors (A[i][j] / B[i][j], 0-based).
    return fail(fmt::format("{} (A = {}, B = {}; indices from 0)", with_option(e), o.a_file, o.b_file));
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
  auto o = std::make_shared<GemmCommandOptions>();
  CLI::App* cmd = app.add_subcommand("gemm", "C = A x B with explicit input, product, accumulator and output rounding");
  cmd->footer(
      "A and B are text matrices (whitespace-separated numbers, one row per line). Every element of C is\n"
      "round_out(accumulate(round_prod(round_A(a) * round_B(b)))) as docs/spec/gemm.md defines; output rows\n"
      "are hex-float values, or codes with --codes.\n"
      "Exit status: 0 success; 2 bad input (a message naming the file, row and column or the option on\n"
      "stderr, nothing on stdout).\n"
      "Example: bitsim gemm --a A.txt --b B.txt --a-format fp8_e4m3 --b-format fp8_e4m3 --acc fp32 --out-format bf16");
  cmd->add_option("--a", o->a_file, "matrix A (text)")->required();
  cmd->add_option("--b", o->b_file, "matrix B (text)")->required();
  add_gemm_options(*cmd, o->gemm, "format of A's elements (rounded with rne)", "format of B's elements (rounded with rne)",
                   "format of C");
  cmd->add_flag("--codes", o->codes, "print C's codes instead of values");
  cmd->add_flag("--exact-input", o->exact_input,
                "read each number as the exact value its text spells, not the nearest double (golden reference; slow)");
  cmd->add_option("--threads", o->threads, "threads, 0 = all cores (results do not depend on it; default 1)");
  return [o, cmd] { return run_gemm(*o, *cmd); };
}

}  // namespace bitsim::cli
