#include "apps/sweep/sweep_runner.hpp"
#include "io/files.hpp"
#include "io/json.hpp"

#include "sim/train/checkpoint.hpp"
#include "sim/train/config.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <spawn.h>
#include <sstream>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bitsim::sweep {

namespace {

// What a run's accuracy was measured on, for the progress lines.
const char* accuracy_kind(const RunResult& r) { return r.held_out ? "held-out" : "test"; }

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What makes a run folder's results this row's (the config, the seed and the overrides), and the
// command that trains it: a re-run of that command reproduces the run's weights digest.
std::string note_text(const SweepRow& row, const SweepRun& run) {
  return io::json_text(io::Json{{"config", row.config}, {"seed", run.seed}, {"set", run.identity}, {"command", train_command(run)}});
}

// Whether a recorded note names the same config, seed and overrides as `note` (compared as JSON:
// notes written by older versions differ in spacing, and lack the command).
bool same_note(const std::string& recorded, const std::string& note) {
  const io::Json a = io::Json::parse(recorded, nullptr, false), b = io::Json::parse(note, nullptr, false);
  if (!a.is_object() || !b.is_object()) return false;
  for (const char* key : {"config", "seed", "set"})
    if (!a.contains(key) || !b.contains(key) || a[key] != b[key]) return false;
  return true;
}

// Copies the files of the finished run `from` into `to` (not checkpoints or the sweep's own notes),
// result.json last, so that the folder counts as finished only once it is complete.
void copy_finished_run(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  for (const fs::directory_entry& e : fs::directory_iterator(from)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.starts_with("checkpoint.bin") || name == "sweep_run.json" || name == "sweep_failed" ||
        name == "result.json")
      continue;
    io::write_file_atomically(to + "/" + name, io::read_file(e.path().string()));
  }
  io::write_file_atomically(to + "/result.json", io::read_file(from + "/result.json"));
}

// A finished run's checkpoint, when the plan keeps none: its weights digest is in result.json.
void drop_checkpoint(const SweepPlan& plan, const SweepRun& run) {
  if (plan.keep_checkpoints) return;
  std::error_code ec;
  std::filesystem::remove(run.dir + "/checkpoint.bin", ec);
}

std::string last_lines(const std::string& path, int n) {
  const std::string t = slurp(path);
  std::size_t p = t.size();
  for (int i = 0; i <= n && p > 0; ++i) {
    p = t.rfind('\n', p - 1);
    if (p == std::string::npos) {
      p = 0;
      break;
    }
  }
  std::string tail = t.substr(p == 0 ? 0 : p + 1);
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace

std::optional<RunResult> read_result(const std::string& run_dir) {
  const io::Json j = io::Json::parse(slurp(run_dir + "/result.json"), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("test_accuracy") || !j["test_accuracy"].is_number()) return std::nullopt;
  auto text = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string(); };
  RunResult r;
  r.test_accuracy = j["test_accuracy"].get<double>();
  r.train_seconds = j.contains("train_seconds") && j["train_seconds"].is_number() ? j["train_seconds"].get<double>() : 0;
  r.commit = text("commit");
  r.cpu = text("cpu");
  r.held_out = text("evaluated_on") == "held-out";
  return r;
}

RunnerResult run_sweep(const SweepPlan& plan, const std::vector<SweepRun>& runs, const RunnerOptions& o) {
  namespace fs = std::filesystem;
  RunnerResult res;
  g_stop = 0;
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  auto say = [&](const std::string& line) {
    if (o.log) *o.log << line << std::endl;
  };
  // The trainings run on their own: under mpirun, the launcher's variables would make each of them a
  // rank of the sweep's MPI job (bitsim train joins MPI when it sees them).
  std::vector<char*> child_env;
  for (char** e = environ; *e; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("OMPI_") || v.starts_with("PMI_") || v.starts_with("PMIX_")) continue;
    child_env.push_back(*e);
  }
  child_env.push_back(nullptr);
  std::map<pid_t, std::size_t> running;
  std::size_t next = 0;
  const std::size_t total = runs.size();
  auto name = [&](std::size_t i) { return fmt::format("[{}/{}] {} seed {}", i + 1, total, plan.rows[runs[i].row].id, runs[i].seed); };

  auto launch = [&](std::size_t i) -> bool {  // false: skipped or failed to start
    const SweepRun& run = runs[i];
    const SweepRow& row = plan.rows[run.row];
    const std::string note = note_text(row, run), note_path = run.dir + "/sweep_run.json";
    const std::string recorded = slurp(note_path);
    if (const auto r = read_result(run.dir)) {
      say(fmt::format("{}: skipped, {}/result.json exists ({} accuracy {:.2f}%)", name(i), run.dir, accuracy_kind(*r),
                      100 * r->test_accuracy));
      if (!recorded.empty() && !same_note(recorded, note))
        say(fmt::format("  warning: {} was made with other overrides than this sweep's (see {}); delete the folder to redo it",
                        run.dir, note_path));
      drop_checkpoint(plan, run);
      ++res.skipped;
      return false;
    }
    for (const ReusableRun& r : o.reusable) {
      if (!same_note(r.note, note)) continue;
      try {
        copy_finished_run(r.dir, run.dir);
        io::Json copied = io::Json::parse(note);
        copied["copied_from"] = r.dir;
        io::write_file_atomically(note_path, io::json_text(copied));
      } catch (const std::exception& e) {
        res.failed.push_back(fmt::format("{} seed {}: copying {}: {}", row.id, run.seed, r.dir, e.what()));
        say(fmt::format("{}: FAILED to copy the identical run {}: {}", name(i), r.dir, e.what()));
        return false;
      }
      drop_checkpoint(plan, run);
      ++res.copied;
      say(fmt::format("{}: copied from {} (the same config, seed and overrides: training it again gives the same bits)",
                      name(i), r.dir));
      return false;
    }
    std::error_code ec;
    fs::create_directories(run.dir, ec);
    const bool resume = fs::exists(run.dir + "/checkpoint.bin") && same_note(recorded, note);
    if (fs::exists(run.dir + "/checkpoint.bin") && !resume)
      say(fmt::format("  warning: {} holds a checkpoint made with other overrides: starting it afresh", run.dir));
    fs::remove(run.dir + "/sweep_failed", ec);
    try {
      io::write_file_atomically(note_path, note);
    } catch (const std::exception& e) {
      res.failed.push_back(fmt::format("{} seed {}: {}", row.id, run.seed, e.what()));
      say(fmt::format("{}: FAILED: {}", name(i), e.what()));
      return false;
    }
    std::vector<std::string> args = {o.bitsim, "train"};
    args.insert(args.end(), run.args.begin(), run.args.end());
    args.emplace_back(resume ? "--resume" : "--overwrite");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = run.dir + "/train.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | (resume ? O_APPEND : O_TRUNC), 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, o.bitsim.c_str(), &fa, nullptr, argv.data(), child_env.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      res.failed.push_back(fmt::format("{} seed {}: cannot start {}: {}", row.id, run.seed, o.bitsim, std::strerror(rc)));
      say(fmt::format("{}: FAILED to start {}: {}", name(i), o.bitsim, std::strerror(rc)));
      return false;
    }
    running[pid] = i;
    ++res.started;
    say(fmt::format("{}: {} (log: {})", name(i), resume ? "resuming from its checkpoint" : "running", log));
    return true;
  };

  bool forwarded = false;
  while (true) {
    if (g_stop && !forwarded) {  // stop the running trainings too; they resume from their checkpoints
      for (const auto& [pid, i] : running) ::kill(pid, SIGTERM);
      forwarded = true;
    }
    while (!g_stop && next < total && static_cast<std::int64_t>(running.size()) < o.workers) launch(next++);
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const std::size_t i = it->second;
    running.erase(it);
    const SweepRun& run = runs[i];
    const auto r = read_result(run.dir);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && r) {
      ++res.finished;
      drop_checkpoint(plan, run);
      say(fmt::format("{}: done, {} accuracy {:.2f}% ({:.1f} s of training)", name(i), accuracy_kind(*r), 100 * r->test_accuracy,
                      r->train_seconds));
    } else {
      const std::string why = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                              : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? std::string("exited 0 without result.json")
                                                                               : fmt::format("exit status {}", WEXITSTATUS(status));
      if (g_stop) {
        say(fmt::format("{}: stopped ({}); the next sweep resumes it", name(i), why));
      } else {
        res.failed.push_back(fmt::format("{} seed {}: {} (log: {}/train.log)", plan.rows[run.row].id, run.seed, why, run.dir));
        try {
          io::write_file_atomically(run.dir + "/sweep_failed", why + "\n");
        } catch (const std::exception&) {  // the failure is reported anyway
        }
        say(fmt::format("{}: FAILED, {}; last lines of {}/train.log:\n    {}", name(i), why, run.dir,
                        [&] {
                          std::string t = last_lines(run.dir + "/train.log", 3);
                          for (std::size_t p = t.find('\n'); p != std::string::npos; p = t.find('\n', p + 5)) t.replace(p, 1, "\n    ");
                          return t;
                        }()));
      }
    }
  }
  res.interrupted = g_stop != 0;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return res;
}

std::vector<ReusableRun> reusable_runs(const SweepPlan& plan) {
  std::vector<ReusableRun> out;
  for (const std::string& path : plan.reuse_from) {
    SweepPlan other;
    try {
      other = load_plan(path);
    } catch (const SweepError& e) {
      throw SweepError(fmt::format("{}: reuse_from: {}", plan.source, e.what()));
    }
    for (const SweepRun& run : expand(other))
      if (read_result(run.dir)) out.push_back({note_text(other.rows[run.row], run), run.dir});
  }
  return out;
}

RankInfo rank_from_environment() {
  auto num = [](const char* name) -> std::optional<std::int64_t> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    const long long x = std::strtoll(v, &end, 10);
    if (*end != '\0' || x < 0) return std::nullopt;
    return x;
  };
  for (const auto& [r, n] : {std::pair{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}, std::pair{"PMI_RANK", "PMI_SIZE"}}) {
    const auto rank = num(r), size = num(n);
    if (rank && size && *size >= 1 && *rank < *size) return RankInfo{*rank, *size};
  }
  return {};
}

void wait_for_runs(const std::vector<SweepRun>& runs) {
  namespace fs = std::filesystem;
  for (const SweepRun& run : runs)
    while (!g_stop && !read_result(run.dir) && !fs::exists(run.dir + "/sweep_failed")) ::usleep(200000);
}

}  // namespace bitsim::sweep
