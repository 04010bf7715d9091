// `bitsim sweep SWEEP.toml`: runs the trainings of an ablation sweep (apps/sweep/sweep_plan.hpp,
// docs/sweeps.md) with N workers, resumable, and writes its table (table.md, table.csv).
#include "apps/bitsim/commands.hpp"
#include "apps/sweep/sweep_plan.hpp"
#include "apps/sweep/sweep_runner.hpp"
#include "apps/sweep/sweep_table.hpp"
#include "sim/train/checkpoint.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace bitsim::cli {

namespace {
struct SweepArgs {
  std::string file, out, runs_root, only, seeds;
  std::vector<std::string> sets;
  std::int64_t workers = 0, threads = 0;
  bool table_only = false, list = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}
}  // namespace

Runner add_sweep_command(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand("sweep", "Run the trainings of an ablation sweep and write its table (docs/sweeps.md)");
  cmd->add_option("sweep", a->file, "sweep file (TOML)")->required();
  cmd->add_option("--workers", a->workers, "runs at a time (default: the file's `workers`, else 1)")->check(CLI::Range(1, 1024));
  cmd->add_option("--threads", a->threads, "bitsim train --threads of each run (default: the file's `threads`, else 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--only", a->only, "comma-separated row ids to run (the table still lists every row)");
  cmd->add_option("--seeds", a->seeds, "comma-separated seeds instead of the file's");
  cmd->add_option("--set", a->sets, "an extra override of every run: key.path=value (repeatable)")->allow_extra_args(false);
  cmd->add_option("--out", a->out, "where table.md and table.csv go (default: the file's `out`)");
  cmd->add_option("--runs-root", a->runs_root, "root of the run folders (default: the file's `runs_root`)");
  cmd->add_flag("--table-only", a->table_only, "run nothing; write the table of the results that exist");
  cmd->add_flag("--list", a->list, "print every run (row, seed, folder, command) and stop");
  return [a]() -> int {
    auto fail = [](const std::string& m) {
      std::cerr << "bitsim sweep: " << m << "\n";
      return kExitBadInput;
    };
    sweep::SweepPlan plan;
    try {
      plan = sweep::load_plan(a->file);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    if (!a->out.empty()) plan.out = a->out;
    if (a->threads > 0) plan.threads = a->threads;
    if (!a->runs_root.empty()) plan.runs_root = a->runs_root;
    for (const std::string& s : a->sets) {
      if (s.find('=') == std::string::npos || s.front() == '=') return fail("--set '" + s + "' is not key=value");
      plan.sets.push_back(s);
    }
    if (!a->seeds.empty()) {
      plan.seeds.clear();
      for (const std::string& t : split_commas(a->seeds)) {
        const auto v = t.find_first_not_of("0123456789") == std::string::npos && t.size() < 19 ? std::optional<std::uint64_t>(std::stoull(t)) : std::nullopt;
        if (!v) return fail("--seeds: '" + t + "' is not a non-negative integer");
        plan.seeds.push_back(*v);
      }
      if (plan.seeds.empty()) return fail("--seeds: no seed given");
    }
    std::set<std::string> only;
    for (const std::string& id : split_commas(a->only)) {
      bool known = false;
      for (const auto& r : plan.rows) known = known || r.id == id;
      if (!known) {
        std::string ids;
        for (const auto& r : plan.rows) ids += (ids.empty() ? "" : ", ") + r.id;
        return fail("--only: unknown row id '" + id + "' (rows: " + ids + ")");
      }
      only.insert(id);
    }
    std::vector<sweep::SweepRun> runs;
    for (sweep::SweepRun& r : sweep::expand(plan))
      if (only.empty() || only.count(plan.rows[r.row].id)) runs.push_back(std::move(r));
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    if (a->list) {
      for (const sweep::SweepRun& r : runs) {
        std::string line = fmt::format("{}\t{}\t{}\t{} train", plan.rows[r.row].id, r.seed, r.dir, self);
        for (const std::string& x : r.args) line += " " + x;
        fmt::print("{}\n", line);
      }
      return 0;
    }
    if (!a->table_only) {
      for (const sweep::SweepRun& r : runs)  // a missing config fails now, not after hours of other rows
        if (!std::filesystem::is_regular_file(plan.rows[r.row].config))
          return fail(fmt::format("{}: row '{}': config file not found: {}", plan.source, plan.rows[r.row].id, plan.rows[r.row].config));
    }
    sweep::RunnerResult res;
    if (!a->table_only) {
      sweep::RunnerOptions o;
      o.bitsim = self;
      o.workers = a->workers > 0 ? a->workers : plan.workers;
      o.log = &std::cout;
      fmt::print("{}: {} runs ({} rows x {} seeds), {} at a time, {} thread(s) each\n", plan.source, runs.size(),
                 plan.rows.size(), plan.seeds.size(), o.workers, plan.threads);
      std::cout.flush();
      res = sweep::run_sweep(plan, runs, o);
    }
    std::string command = "bitsim sweep " + a->file;  // the options that change what the table holds
    if (!a->only.empty()) command += " --only " + a->only;
    if (!a->seeds.empty()) command += " --seeds " + a->seeds;
    for (const std::string& x : a->sets) command += " --set " + x;
    if (!a->runs_root.empty()) command += " --runs-root " + a->runs_root;
    if (a->table_only) command += " --table-only";
    try {
      const auto stats = sweep::aggregate(plan);
      std::error_code ec;
      std::filesystem::create_directories(plan.out, ec);
      if (ec) return fail(plan.out + ": cannot create the output folder: " + ec.message());
      sim::train::write_file_atomically(plan.out + "/table.csv", sweep::csv_table(stats));
      sim::train::write_file_atomically(plan.out + "/sweep.json", sweep::sweep_json(plan));
      sim::train::write_file_atomically(plan.out + "/table.md", sweep::markdown_document(plan, stats, command));
      std::cout << "\n" << sweep::markdown_table(plan, stats) << "\ntable: " << plan.out << "/table.md, " << plan.out
                << "/table.csv (report: bitsim report " << plan.out << ")\n";
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    if (res.interrupted) {
      fmt::print("interrupted: {} runs finished, {} skipped; run the same command to resume\n", res.finished, res.skipped);
      return 130;
    }
    if (!res.failed.empty()) {
      fmt::print(stderr, "bitsim sweep: {} run(s) failed:\n", res.failed.size());
      for (const std::string& f : res.failed) fmt::print(stderr, "  {}\n", f);
      return 1;
    }
    return 0;
  };
}

}  // namespace bitsim::cli
