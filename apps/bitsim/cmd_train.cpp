// `bitsim train CONFIG [--set key=value ...] [--resume] [--threads N]`: trains as the TOML config says
// (sim/train/config.hpp, docs/training.md) and writes the run folder (sim/train/trainer.hpp).
#include "analysis/stats_logger.hpp"
#include "apps/bitsim/commands.hpp"
#include "apps/bitsim/mpi_collective.hpp"
#include "sim/data/dataset.hpp"
#include "sim/train/checkpoint.hpp"
#include "sim/train/config.hpp"
#include "sim/runtime/thread_pool.hpp"
#include "sim/train/trainer.hpp"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::cli {

namespace {

// Set by the first SIGINT / SIGTERM: training stops after the current step with a checkpoint. The
// handler restores the default action, so a second signal stops the process at once.
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void request_stop(int sig) {
  g_stop_requested.store(true);
  std::signal(sig, SIG_DFL);
}

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false, overwrite = false, quiet = false, no_progress = false;
  int threads = -1;  // not given: the config's `threads`
};
}  // namespace

Runner add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model as a TOML config describes (docs/training.md)");
  cmd->add_option("config", args->config, "experiment config (TOML)")->required();
  cmd->add_option("--set", args->sets, "override a config key: key.path=value (value in TOML syntax, or a bare string)")
      ->take_all()
      ->allow_extra_args(false);  // one key=value per --set, so `--set k=v CONFIG` still finds CONFIG
  cmd->add_flag("--resume", args->resume, "continue from the run folder's checkpoint (bit-identical to an uninterrupted run)");
  cmd->add_flag("--overwrite", args->overwrite, "start afresh even if the run folder holds a checkpoint");
  cmd->add_option("--threads", args->threads,
                  "worker threads, 0 = all cores (default: the config's `threads`, whose 0 is all cores too; results do not depend on it)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("--no-progress", args->no_progress, "no progress bar");
  cmd->add_flag("--quiet", args->quiet, "no per-epoch lines on stdout");
  cmd->footer(
      "The run folder (run.dir, default runs/<name>) receives config.toml, model.txt, metrics.csv, checkpoint.bin,\n"
      "result.json, hazards.csv and, with [stats], stats.h5 (docs/training.md). The config is checked when it is\n"
      "read: keys, values, and the model's shapes against the data set.\n"
      "Exit status: 0 finished (or stopped by train.stop_after_steps); 2 bad config, data, checkpoint or options,\n"
      "or a file that cannot be written (a message naming the file, line and key); 3 stopped by a numerical hazard\n"
      "([hazards]); 130 interrupted by SIGINT or SIGTERM after saving a checkpoint (continue with --resume).\n"
      "Examples: bitsim train experiments/fp32/cnn_fashion_mnist.toml\n"
      "          bitsim train experiments/fp32/cnn_fashion_mnist.toml --set formats.W=fp8_e4m3 --set run.dir=runs/w8");
  return [args]() -> int {
    try {
      const sim::train::TrainConfig c = sim::train::load_config(args->config, args->sets);
      sim::train::TrainOptions o;
      o.resume = args->resume;
      o.overwrite = args->overwrite;
      o.threads = args->threads < 0 ? 0 : args->threads == 0 ? sim::all_cores() : args->threads;  // TrainOptions: 0 = the config's
      o.progress = !args->no_progress;
      o.log = args->quiet ? nullptr : &std::cout;
      o.warnings = &std::cerr;
      o.stop_requested = &g_stop_requested;
      std::signal(SIGINT, request_stop);
      std::signal(SIGTERM, request_stop);
      // Under mpirun -np P (P > 1): data-parallel, one micro-batch per rank; rank 0 writes the files.
      std::unique_ptr<sim::train::Collective> world;
      if (launched_ranks() > 1) o.collective = (world = mpi_world()).get();
      const bool writer = !world || world->rank() == 0;
      if (!writer) o.log = nullptr;
      // [stats] every > 0: per-layer tensor statistics to HDF5 (docs/hdf5-schema.md).
      std::optional<analysis::StatsLogger> stats;
      if (c.stats.every > 0 && writer) o.monitor = &stats.emplace(&std::cerr);
      const sim::train::TrainResult r = sim::train::run_training(c, o);
      if (stats && !args->quiet)
        fmt::print("statistics: {} steps logged to {} ({:.1f} s)\n", stats->logged_steps(), stats->path(), stats->seconds());
      if (r.interrupted) {
        if (writer)
          std::cerr << fmt::format("bitsim train: interrupted after step {}: checkpoint written, statistics closed; continue "
                                   "with --resume (in {}/)\n",
                                   r.steps, c.run_dir);
        return kExitInterrupted;
      }
      if (!args->quiet && writer) {
        if (r.finished)
          fmt::print("done: {} steps, {} accuracy {:.2f}% (loss {:.4f}), {:.1f} s of training; results in {}/\n", r.steps,
                     sim::train::eval_set_name(c), 100 * r.test_accuracy, r.test_loss, r.train_seconds, c.run_dir);
        else
          fmt::print("stopped after {} steps (train.stop_after_steps); resume with --resume; checkpoint in {}/\n", r.steps,
                     c.run_dir);
      }
      return 0;
    } catch (const sim::train::HazardError& e) {
      std::cerr << "bitsim train: " << e.what() << "\n";
      return kExitHazard;
    } catch (const sim::train::RunFolderTaken& e) {
      std::cerr << "bitsim train: " << e.what() << "\n  (--resume continues it, --overwrite starts again, --set run.dir=DIR "
                   "names a new folder)\n";
      return kExitBadInput;
    } catch (const sim::train::NothingToResume& e) {
      std::cerr << "bitsim train: " << e.what() << "\n  (run without --resume to start it)\n";
      return kExitBadInput;
    } catch (const std::exception& e) {
      std::cerr << "bitsim train: " << e.what() << "\n";
      return kExitBadInput;
    }
  };
}

}  // namespace bitsim::cli
