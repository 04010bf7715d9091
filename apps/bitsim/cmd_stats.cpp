// `bitsim stats RUN.h5 [--step S] [--role R] [--layer P] [--csv OUT]` and
// `bitsim stats --compare A.h5 B.h5`: per-layer summaries of the HDF5 statistics a training run wrote
// with [stats] (docs/hdf5-schema.md, docs/training.md).
#include "analysis/stats_reader.hpp"
#include "io/files.hpp"
#include "analysis/stats_report.hpp"
#include "apps/bitsim/cli_numbers.hpp"
#include "apps/bitsim/commands.hpp"
#include "sim/nn/role.hpp"
#include "sim/train/checkpoint.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bitsim::cli {

namespace {
struct StatsArgs {
  std::vector<std::string> files;
  std::string step_text, step_b_text, csv;
  std::vector<std::string> roles, layers;
  bool compare = false, list_steps = false;
};
}  // namespace

Runner add_stats_command(CLI::App& app) {
  auto a = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand("stats", "Summarize the tensor statistics of a training run (HDF5, docs/hdf5-schema.md)");
  cmd->add_option("files", a->files, "statistics file(s): RUN/stats.h5 (two with --compare)")->required();
  cmd->add_option("--step", a->step_text, "the logged step to show (default: the last one); 'all' with --csv: every logged step");
  cmd->add_option("--step-b", a->step_b_text, "with --compare: the step of the second file (default: --step, else its last)");
  // One value per --role / --layer (repeat the option), so that `--role E RUN.h5` still finds the file.
  cmd->add_option("--role", a->roles, "only this role (repeatable): " + sim::nn::role_names_text())
      ->allow_extra_args(false);
  cmd->add_option("--layer", a->layers, "only layers matching this name pattern (repeatable; '*' matches any run of characters)")
      ->allow_extra_args(false);
  cmd->add_option("--csv", a->csv, "also write every field of the shown rows to this CSV file ('-': stdout instead of the table)");
  cmd->add_flag("--compare", a->compare, "compare two runs' distributions site by site (e.g. fp32 vs 8-bit)");
  cmd->add_flag("--steps", a->list_steps, "list the logged steps (step, loss, accuracy, lr) and stop");
  cmd->footer(
      "Exit status: 0 success; 2 a missing, unreadable or foreign file, a step that was not logged, bad options, or\n"
      "an output file that cannot be written.\n"
      "Examples: bitsim stats runs/NAME/stats.h5 --role E\n"
      "          bitsim stats runs/NAME/stats.h5 --step all --csv run.csv      # every step, for pandas.read_csv\n"
      "          bitsim stats --compare runs/fp32/stats.h5 runs/q8/stats.h5 --role G");
  return [a]() -> int {
    auto fail = [](const std::string& m) {
      std::cerr << "bitsim stats: " << m << "\n";
      return kExitBadInput;
    };
    try {
      if (a->compare != (a->files.size() == 2))
        return fail(a->compare ? "--compare needs two files" : fmt::format("one file expected, got {} (two need --compare)", a->files.size()));
      for (const std::string& r : a->roles)
        if (!sim::nn::parse_role(r)) return fail("--role: unknown role '" + r + "'");
      auto step_of = [&](const std::string& t, const char* opt) -> std::optional<std::uint64_t> {
        if (t.empty()) return std::nullopt;
        const auto v = parse_u64_decimal(t);
        if (!v) throw analysis::StatsFileError(fmt::format("{}: '{}' is not a step number", opt, t));
        return v;
      };
      const analysis::SiteFilter filter{a->roles, a->layers};
      const bool all_steps = a->step_text == "all";
      if (all_steps && (a->csv.empty() || a->compare))
        return fail("--step all writes every logged step as CSV: give --csv FILE (or --csv - for stdout), without --compare");
      analysis::StatsReader ra(a->files[0]);
      if (a->list_steps) {
        fmt::print("{:>10} {:>10} {:>9} {:>10}\n", "step", "loss", "accuracy", "lr");
        for (const analysis::StepRow& s : ra.steps()) fmt::print("{:>10} {:>10.4f} {:>9.4f} {:>10.4g}\n", s.step, s.loss, s.accuracy, s.lr);
        return 0;
      }
      if (all_steps) {
        // The whole run in long form: one row per logged step and site, for pandas.read_csv.
        if (!a->csv.empty() && a->csv != "-") io::check_output_path(a->csv);
        std::vector<analysis::SiteSummary> rows;
        for (const analysis::StepRow& s : ra.steps()) {
          auto at_step = analysis::summarize(ra, s.step, filter);
          rows.insert(rows.end(), at_step.begin(), at_step.end());
        }
        if (rows.empty()) return fail(fmt::format("{}: no logged step has a site that matches the --role / --layer filters", a->files[0]));
        if (a->csv == "-") std::cout << analysis::summary_csv(rows);
        else io::write_file_atomically(a->csv, analysis::summary_csv(rows));
        return 0;
      }
      const std::uint64_t step_a = analysis::choose_step(ra, step_of(a->step_text, "--step"));
      const auto rows_a = analysis::summarize(ra, step_a, filter);
      if (a->compare) {
        analysis::StatsReader rb(a->files[1]);
        std::optional<std::uint64_t> sb = step_of(a->step_b_text, "--step-b");
        if (!sb && !a->step_text.empty()) sb = step_a;
        const std::uint64_t step_b = analysis::choose_step(rb, sb);
        const auto rows_b = analysis::summarize(rb, step_b, filter);
        fmt::print("A: {} ({})\nB: {} ({})\n", a->files[0], ra.root_string("run_name"), a->files[1], rb.root_string("run_name"));
        std::cout << analysis::compare_table(rows_a, rows_b, step_a, step_b);
        return 0;
      }
      if (rows_a.empty()) return fail(fmt::format("{}: no site matches the --role / --layer filters", a->files[0]));
      if (a->csv == "-") {
        std::cout << analysis::summary_csv(rows_a);
        return 0;
      }
      if (!a->csv.empty()) io::write_file_atomically(a->csv, analysis::summary_csv(rows_a));
      double loss = 0;
      for (const analysis::StepRow& s : ra.steps())
        if (s.step == step_a) loss = s.loss;
      fmt::print("{}: run {}, step {} ({} steps logged; batch loss {:.4f})\n", a->files[0], ra.root_string("run_name"), step_a,
                 ra.steps().size(), loss);
      std::cout << analysis::summary_table(rows_a);
      if (!a->csv.empty()) fmt::print("wrote {}\n", a->csv);
      return 0;
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  };
}

}  // namespace bitsim::cli
