// Subcommands of the `bitsim` program. Each registers its options on the CLI11 app and returns the
// function that runs it; a run returns the process exit status (0 ok, 2 bad input or usage).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace bitsim::cli {

using Runner = std::function<int()>;

// Exit status for bad input, bad options and unusable formats (formats.md section 3).
inline constexpr int kExitBadInput = 2;
// `bitsim train` stopped by a numerical hazard ([hazards]; sim/train/hazards.hpp).
inline constexpr int kExitHazard = 3;
// Stopped by SIGINT or SIGTERM, after saving what can be resumed (128 + SIGINT, as shells report it).
inline constexpr int kExitInterrupted = 130;

Runner add_quantize_command(CLI::App& app);
Runner add_formats_command(CLI::App& app);
Runner add_gemm_command(CLI::App& app);
Runner add_golden_command(CLI::App& app);
Runner add_train_command(CLI::App& app);
Runner add_analyze_command(CLI::App& app);
Runner add_stats_command(CLI::App& app);
Runner add_sweep_command(CLI::App& app);
Runner add_report_command(CLI::App& app);
Runner add_op_command(CLI::App& app);
Runner add_vectors_command(CLI::App& app);
Runner add_check_command(CLI::App& app);

}  // namespace bitsim::cli
