// `bitsim sweep SWEEP.toml`: runs the trainings of an ablation sweep (apps/sweep/sweep_plan.hpp,
// docs/sweeps.md) with N workers, resumable, and writes its table (table.md, table.csv).
#include "apps/bitsim/cli_numbers.hpp"
#include "io/files.hpp"
#include "apps/bitsim/commands.hpp"
#include "apps/sweep/sweep_plan.hpp"
#include "apps/sweep/sweep_provenance.hpp"
#include "apps/sweep/sweep_runner.hpp"
#include "apps/sweep/sweep_table.hpp"
#include "sim/runtime/thread_pool.hpp"
#include "formats/simd_target.hpp"
#include "io/json.hpp"
#include "io/version.hpp"
#include "sim/train/checkpoint.hpp"

#include <fmt/format.h>

#include <chrono>
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
  std::int64_t workers = 0, threads = -1;  // threads: -1 when not given
  bool table_only = false, list = false, resume = false;
  std::int64_t task = -1;    // --task I: run only run I (a Slurm array task)
  std::string emit_slurm;    // --emit-slurm FILE
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
  cmd->add_option("--threads", a->threads, "bitsim train --threads of each run, 0 = all cores (default: the file's `threads`, else 1)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--only", a->only, "comma-separated row ids to run (the table still lists every row)");
  cmd->add_option("--seeds", a->seeds, "comma-separated seeds instead of the file's");
  cmd->add_option("--set", a->sets, "an extra override of every run: key.path=value (repeatable)")->allow_extra_args(false);
  cmd->add_option("--out", a->out, "where table.md and table.csv go (default: the file's `out`)");
  cmd->add_option("--runs-root", a->runs_root, "root of the run folders (default: the file's `runs_root`)");
  cmd->add_flag("--table-only,--collect", a->table_only,
                "run nothing; write the table (and sweep.json) of the results that exist: after array tasks, "
                "--collect merges their results");
  cmd->add_option("--task", a->task, "run only run number I of the list (0-based, as --list numbers them), write no table: "
                                     "one Slurm array task")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--emit-slurm", a->emit_slurm, "write a Slurm job-array script (one array task per run) to this file and stop");
  cmd->add_flag("--list", a->list, "print every run (row, seed, folder, command) and stop");
  cmd->add_flag("--resume", a->resume,
                "continue the sweep recorded in the out folder (its sweep.json, finished runs and checkpoints, e.g. as "
                "committed to a repository); refuse when the folder holds no sweep of these runs");
  cmd->footer(
      "Runs every row x seed not finished yet (interrupted runs resume from their checkpoints), then writes\n"
      "table.md, table.csv and sweep.json into the sweep's out folder (docs/sweeps.md).\n"
      "Exit status: 0 every run finished; 1 some runs failed (listed); 2 a bad sweep file, config or option; 130\n"
      "interrupted (run the same command to resume).\n"
      "Examples: bitsim sweep experiments/banner2018/cnn_table_small.toml --workers 2\n"
      "          bitsim sweep experiments/banner2018/cnn_table_small.toml --table-only");
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
    if (a->threads >= 0) plan.threads = a->threads > 0 ? a->threads : sim::all_cores();
    if (!a->runs_root.empty()) plan.runs_root = a->runs_root;
    for (const std::string& s : a->sets) {
      if (s.find('=') == std::string::npos || s.front() == '=') return fail("--set '" + s + "' is not key=value");
      plan.sets.push_back(s);
    }
    if (!a->seeds.empty()) {
      plan.seeds.clear();
      for (const std::string& t : split_commas(a->seeds)) {
        const auto v = t.size() < 19 ? parse_u64_decimal(t) : std::nullopt;
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
    // The options that select and shape the runs, for the commands this one writes (Slurm tasks).
    std::string options;
    auto quote = [](const std::string& x) { return sweep::shell_words({x}); };
    if (!a->only.empty()) options += " --only " + quote(a->only);
    if (!a->seeds.empty()) options += " --seeds " + quote(a->seeds);
    for (const std::string& x : a->sets) options += " --set " + quote(x);
    if (!a->runs_root.empty()) options += " --runs-root " + quote(a->runs_root);
    if (!a->out.empty()) options += " --out " + quote(a->out);
    if (a->threads >= 0) options += " --threads " + std::to_string(a->threads);
    if (a->list) {
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const sweep::SweepRun& r = runs[i];
        std::vector<std::string> words = {self, "train"};
        words.insert(words.end(), r.args.begin(), r.args.end());
        fmt::print("{}\t{}\t{}\t{}\t{}\n", i, plan.rows[r.row].id, r.seed, r.dir, sweep::shell_words(words));
      }
      return 0;
    }
    if (!a->emit_slurm.empty()) {
      if (runs.empty()) return fail("no run to put in a job array");
      const std::string cwd = std::filesystem::current_path().string();
      const std::int64_t limit = a->workers > 0 ? a->workers : plan.workers;
      const std::string script = fmt::format(
          "#!/bin/bash\n"
          "# Slurm job array of {file}: one array task per run ({n} runs, at most {limit} at a time).\n"
          "# Submit:   sbatch {self_script}\n"
          "# Then merge the results into the table (after the array, e.g. as a dependent job):\n"
          "#   sbatch --dependency=afterany:JOBID --wrap \"cd {cwdq} && {bitsim} sweep {fileq}{options} --collect\"\n"
          "# A task whose run already finished does nothing; a resubmitted array resumes the rest.\n"
          "#SBATCH --job-name=bitsim-sweep\n"
          "#SBATCH --array=0-{last}%{limit}\n"
          "#SBATCH --cpus-per-task={threads}\n"
          "#SBATCH --output={logs}/%A_%a.log\n"
          "set -euo pipefail\n"
          "cd {cwdq}\n"
          "exec {bitsim} sweep {fileq}{options} --task \"$SLURM_ARRAY_TASK_ID\"\n",
          fmt::arg("file", a->file), fmt::arg("n", runs.size()), fmt::arg("limit", limit), fmt::arg("self_script", a->emit_slurm),
          fmt::arg("cwdq", quote(cwd)), fmt::arg("bitsim", quote(self)), fmt::arg("fileq", quote(a->file)),
          fmt::arg("options", options), fmt::arg("last", runs.size() - 1), fmt::arg("threads", plan.threads),
          fmt::arg("logs", plan.out + "/slurm"));
      try {
        std::error_code ec;
        std::filesystem::create_directories(plan.out + "/slurm", ec);
        io::write_file_atomically(a->emit_slurm, script);
        std::filesystem::permissions(a->emit_slurm, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add, ec);
      } catch (const std::exception& e) {
        return fail(e.what());
      }
      fmt::print("wrote {}: a job array of {} runs; submit it with `sbatch {}`, then `bitsim sweep {}{} --collect`\n",
                 a->emit_slurm, runs.size(), a->emit_slurm, a->file, options);
      return 0;
    }
    // One run only: a Slurm array task. It writes no table (tasks run concurrently); --collect does.
    const bool single_task = a->task >= 0;
    if (single_task) {
      if (static_cast<std::size_t>(a->task) >= runs.size())
        return fail(fmt::format("--task {}: the sweep has {} runs (0..{})", a->task, runs.size(), runs.size() - 1));
      runs = {runs[static_cast<std::size_t>(a->task)]};
    }
    // Under mpirun (OpenMPI or MPICH/Slurm PMI variables), rank r of P takes runs r, r+P, r+2P, ...;
    // rank 0 writes the table once every run has finished or failed.
    const sweep::RankInfo rank = sweep::rank_from_environment();
    std::vector<sweep::SweepRun> all_runs = runs;
    if (rank.size > 1 && !single_task) {
      std::vector<sweep::SweepRun> mine;
      for (std::size_t i = 0; i < runs.size(); ++i)
        if (static_cast<std::int64_t>(i % static_cast<std::size_t>(rank.size)) == rank.rank) mine.push_back(runs[i]);
      runs = std::move(mine);
    }
    if (!a->table_only) {
      for (const sweep::SweepRun& r : runs) {  // a missing config fails now, not after hours of other rows
        try {
          io::check_input_file(plan.rows[r.row].config);
        } catch (const io::FileError& e) {
          return fail(fmt::format("{}:{}: row '{}': config file {}", plan.source, plan.rows[r.row].config_line,
                                  plan.rows[r.row].id, e.what()));
        }
      }
    }
    // The table's files must be writable (regular files, links to them, or absent) before hours of runs.
    try {
      io::output_directory_target(plan.out);
      for (const char* f : {"/table.csv", "/sweep.json", "/table.md"}) io::check_output_path(plan.out + f);
    } catch (const io::FileError& e) {
      return fail(fmt::format("{}: out: {}", plan.source, e.what()));
    }
    if (a->resume) {  // the out folder must hold this sweep: its sweep.json names the same run folders
      const std::string recorded_path = plan.out + "/sweep.json";
      std::string recorded;
      try {
        recorded = io::read_file(recorded_path);
      } catch (const io::FileError& e) {
        return fail(fmt::format("--resume: nothing to resume: {} (a sweep writes it when it starts)", e.what()));
      }
      // The run folders (with their rows and seeds) must agree; labels and paper texts may change.
      auto folders = [](const io::Json& j) {
        std::vector<io::Json> out;
        if (!j.is_object() || !j.contains("rows") || !j["rows"].is_array()) return out;
        for (const io::Json& row : j["rows"])
          if (row.is_object() && row.contains("id") && row.contains("runs")) out.push_back(io::Json{{"id", row["id"]}, {"runs", row["runs"]}});
        return out;
      };
      const io::Json was = io::Json::parse(recorded, nullptr, false), now = io::Json::parse(sweep::sweep_json(plan));
      if (folders(was).empty() || folders(was) != folders(now))
        return fail(fmt::format("--resume: {} records other rows, seeds or run folders than {} now gives; run without "
                                "--resume to start these runs, or restore the sweep file",
                                recorded_path, plan.source));
    }
    std::vector<sweep::SweepSession> sessions;
    try {
      sessions = sweep::read_sessions(plan.out);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    // The finished runs of the reuse_from sweeps: a bad sweep file there is bad input, refused before
    // anything is written.
    std::vector<sweep::ReusableRun> reusable;
    if (!a->table_only) {
      try {
        reusable = sweep::reusable_runs(plan);
      } catch (const std::exception& e) {
        return fail(e.what());
      }
    }
    sweep::RunnerResult res;
    if (!a->table_only) {
      // Written first, so that a sweep killed before its table is still known to --resume and report.
      if (!single_task && rank.rank == 0) {
        try {
          io::make_directories(plan.out);
          io::write_file_atomically(plan.out + "/sweep.json", sweep::sweep_json(plan));
        } catch (const std::exception& e) {
          return fail(e.what());
        }
      }
      sweep::RunnerOptions o;
      o.bitsim = self;
      o.workers = a->workers > 0 ? a->workers : plan.workers;
      o.log = &std::cout;
      o.reusable = std::move(reusable);
      fmt::print("{}: {} runs ({} rows x {} seeds){}, {} at a time, {} thread(s) each\n", plan.source, runs.size(),
                 plan.rows.size(), plan.seeds.size(),
                 rank.size > 1 ? fmt::format(" on rank {} of {}", rank.rank, rank.size) : std::string(), o.workers, plan.threads);
      std::cout.flush();
      const std::string started_utc = sweep::utc_now();
      const auto t0 = std::chrono::steady_clock::now();
      res = sweep::run_sweep(plan, runs, o);
      // The session's elapsed time goes into the table's header. Array tasks and MPI ranks run
      // concurrently with others, so only a sweep that ran its runs alone records one.
      if (!single_task && rank.size == 1 && res.started > 0) {
        sweep::SweepSession s;
        s.started_utc = started_utc;
        s.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        s.workers = o.workers;
        s.threads = plan.threads;
        s.started = static_cast<std::int64_t>(res.started);
        s.finished = static_cast<std::int64_t>(res.finished);
        s.failed = static_cast<std::int64_t>(res.failed.size());
        s.interrupted = res.interrupted;
        s.commit = io::source_commit();
        s.cpu = io::cpu_name();
        s.simd = formats::simd_target();
        try {
          sweep::record_session(plan.out, s);
          sessions.push_back(s);
        } catch (const std::exception& e) {
          fmt::print(stderr, "bitsim sweep: warning: the session was not recorded: {}\n", e.what());
        }
      }
    }
    if (single_task) {
      if (res.interrupted) return 130;
      return res.failed.empty() ? 0 : 1;
    }
    if (rank.size > 1) {
      if (rank.rank != 0) return res.interrupted ? 130 : res.failed.empty() ? 0 : 1;
      if (!a->table_only && !res.interrupted) {
        fmt::print("rank 0 of {}: waiting for the other ranks' runs\n", rank.size);
        std::cout.flush();
        sweep::wait_for_runs(all_runs);
      }
    }
    std::string command = "bitsim sweep " + a->file;  // the options that change what the table holds
    if (!a->only.empty()) command += " --only " + a->only;
    if (!a->seeds.empty()) command += " --seeds " + a->seeds;
    for (const std::string& x : a->sets) command += " --set " + x;
    if (!a->runs_root.empty()) command += " --runs-root " + a->runs_root;
    if (a->table_only) command += " --table-only";
    try {
      const auto stats = sweep::aggregate(plan);
      io::make_directories(plan.out);
      io::write_file_atomically(plan.out + "/table.csv", sweep::csv_table(stats));
      io::write_file_atomically(plan.out + "/sweep.json", sweep::sweep_json(plan));
      io::write_file_atomically(plan.out + "/table.md",
                                sweep::markdown_document(plan, stats, command, sweep::provenance_text(plan, sessions)));
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
