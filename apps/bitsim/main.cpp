// bitsim: bit-accurate simulation of low-precision number formats and training.
#include "apps/bitsim/commands.hpp"

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"bitsim: bit-accurate simulator for low-precision number formats and neural-network training"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bitsim 0.1.0");

  bitsim::cli::Runner quantize = bitsim::cli::add_quantize_command(app);
  bitsim::cli::Runner formats = bitsim::cli::add_formats_command(app);
  bitsim::cli::Runner gemm = bitsim::cli::add_gemm_command(app);
  bitsim::cli::Runner golden = bitsim::cli::add_golden_command(app);
  bitsim::cli::Runner train = bitsim::cli::add_train_command(app);
  bitsim::cli::Runner analyze = bitsim::cli::add_analyze_command(app);
  bitsim::cli::Runner stats = bitsim::cli::add_stats_command(app);
  bitsim::cli::Runner sweep = bitsim::cli::add_sweep_command(app);
  bitsim::cli::Runner report = bitsim::cli::add_report_command(app);

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
  if (app.got_subcommand("quantize")) return quantize();
  if (app.got_subcommand("formats")) return formats();
  if (app.got_subcommand("gemm")) return gemm();
  if (app.got_subcommand("golden")) return golden();
  if (app.got_subcommand("train")) return train();
  if (app.got_subcommand("analyze")) return analyze();
  if (app.got_subcommand("stats")) return stats();
  if (app.got_subcommand("sweep")) return sweep();
  if (app.got_subcommand("report")) return report();
  return bitsim::cli::kExitBadInput;
}
