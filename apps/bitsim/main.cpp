// bitsim: bit-accurate simulation of low-precision number formats and training.
#include "analysis/hdf5_util.hpp"
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/unknown_words.hpp"
#include "formats/simd_target.hpp"
#include "sim/runtime/retain_memory.hpp"
#include "io/version.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <iostream>
#include <new>
#include <utility>

int main(int argc, char** argv) {
  bitsim::sim::retain_freed_memory();
  // Named, so that usage lines say "bitsim", not the path the program was started by.
  CLI::App app{"bitsim: bit-accurate simulator for low-precision number formats and neural-network training", "bitsim"};
  app.require_subcommand(1);
  app.footer(
      "Run 'bitsim COMMAND --help' for a command's options, examples and exit statuses.\n"
      "Exit status: 0 success; 1 bitsim check: mismatches, bitsim sweep: failed runs; 2 bad input or options (a\n"
      "message naming the file, line, key or option); 3 bitsim train stopped by a numerical hazard; 130 interrupted.\n"
      "Example: printf '1\\n0.1\\n' | bitsim quantize --format fp8_e4m3 --flags");
  // The SIMD target the kernels run on is part of the version: it tells which kernels produced a result
  // (all targets give the same bits; speed differs).
  std::string version = bitsim::io::version_line();
  try {
    bitsim::formats::apply_simd_environment();
    version += fmt::format("\nbuilt for: -march={}\nSIMD kernels: {} (this CPU and build have: {}; BITSIM_SIMD chooses)",
                           bitsim::formats::build_march().empty() ? "(compiler default)" : bitsim::formats::build_march(),
                           bitsim::formats::simd_target(), fmt::join(bitsim::formats::simd_targets(), ", "));
  } catch (const bitsim::Error& e) {
    std::cerr << "bitsim: " << e.what() << "\n";
    return bitsim::cli::kExitBadInput;
  }
  app.set_version_flag("--version", version);

  bitsim::cli::Runner quantize = bitsim::cli::add_quantize_command(app);
  bitsim::cli::Runner formats = bitsim::cli::add_formats_command(app);
  bitsim::cli::Runner gemm = bitsim::cli::add_gemm_command(app);
  bitsim::cli::Runner golden = bitsim::cli::add_golden_command(app);
  bitsim::cli::Runner train = bitsim::cli::add_train_command(app);
  bitsim::cli::Runner analyze = bitsim::cli::add_analyze_command(app);
  bitsim::cli::Runner stats = bitsim::cli::add_stats_command(app);
  bitsim::cli::Runner sweep = bitsim::cli::add_sweep_command(app);
  bitsim::cli::Runner report = bitsim::cli::add_report_command(app);
  bitsim::cli::Runner op = bitsim::cli::add_op_command(app);
  bitsim::cli::Runner vectors = bitsim::cli::add_vectors_command(app);
  bitsim::cli::Runner check = bitsim::cli::add_check_command(app);

  if (const auto unknown = bitsim::cli::find_unknown_word(app, argc, argv)) {
    std::cerr << "bitsim: " << unknown->message << "\nRun '" << unknown->command << " --help' for usage.\n";
    return bitsim::cli::kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "bitsim: " << e.what() << "\nRun 'bitsim --help' for usage.\n";
    return bitsim::cli::kExitBadInput;
  }
  const std::pair<const char*, bitsim::cli::Runner*> commands[] = {
      {"quantize", &quantize}, {"formats", &formats}, {"gemm", &gemm},   {"golden", &golden}, {"train", &train},
      {"analyze", &analyze},   {"stats", &stats},     {"sweep", &sweep}, {"report", &report},
      {"op", &op},             {"vectors", &vectors}, {"check", &check}};
  int rc = bitsim::cli::kExitBadInput;
  for (const auto& [name, run] : commands) {
    if (!app.got_subcommand(name)) continue;
    try {
      rc = (*run)();
    } catch (const std::bad_alloc&) {
      // Sizes are checked against stated limits before anything large is allocated; this is the net
      // under those checks (a size within the limits that this machine still cannot hold).
      std::cerr << "bitsim " << name << ": out of memory: the sizes asked for need more memory than this machine gives\n";
      rc = bitsim::cli::kExitBadInput;
    }
  }
  if (bitsim::analysis::h5::unclosable_file_open()) {  // see analysis/hdf5_util.hpp: skip HDF5's exit handler
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(rc);
  }
  return rc;
}
