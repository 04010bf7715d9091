#include "apps/sweep/sweep_provenance.hpp"

#include "apps/sweep/sweep_runner.hpp"
#include "io/files.hpp"
#include "io/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>

namespace bitsim::sweep {

namespace {

std::string sessions_path(const std::string& out) { return out + "/sessions.json"; }

// "50 s" below two minutes, "42 min" below an hour, else "3.27 h".
std::string duration(double seconds) {
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.2f} h", seconds / 3600);
}

// "a (3 runs), b (1 run)" in order of first appearance, for noun "run".
std::string counted(const std::vector<std::string>& values, const std::string& noun) {
  std::vector<std::pair<std::string, int>> seen;
  for (const std::string& v : values) {
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == v; });
    if (it == seen.end())
      seen.emplace_back(v, 1);
    else
      ++it->second;
  }
  std::string s;
  for (const auto& [v, n] : seen) s += fmt::format("{}{} ({} {}{})", s.empty() ? "" : ", ", v, n, noun, n == 1 ? "" : "s");
  return s;
}

// <out>/sessions.json as JSON: an empty array when absent; SweepError for anything but an array of objects.
io::Json sessions_json(const std::string& out) {
  const std::string path = sessions_path(out);
  if (!std::filesystem::exists(path)) return io::Json::array();
  std::string text;
  try {
    text = io::read_file(path);
  } catch (const io::FileError& e) {
    throw SweepError(e.what());
  }
  const io::Json j = io::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) throw SweepError(path + ": not a list of sweep sessions (JSON array); move it away to start a new record");
  for (const io::Json& e : j)
    if (!e.is_object()) throw SweepError(path + ": an entry is not a JSON object");
  return j;
}

}  // namespace

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<SweepSession> read_sessions(const std::string& out) {
  std::vector<SweepSession> sessions;
  for (const io::Json& e : sessions_json(out)) {
    SweepSession s;
    auto str = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
    auto num = [&](const char* k) { return e.contains(k) && e[k].is_number() ? e[k].get<double>() : 0.0; };
    s.started_utc = str("started_utc");
    s.elapsed_seconds = num("elapsed_seconds");
    s.workers = static_cast<std::int64_t>(num("workers"));
    s.threads = static_cast<std::int64_t>(num("threads"));
    s.started = static_cast<std::int64_t>(num("runs_started"));
    s.finished = static_cast<std::int64_t>(num("runs_finished"));
    s.failed = static_cast<std::int64_t>(num("runs_failed"));
    s.interrupted = e.contains("interrupted") && e["interrupted"].is_boolean() && e["interrupted"].get<bool>();
    s.commit = str("commit");
    s.cpu = str("cpu");
    s.simd = str("simd");
    sessions.push_back(std::move(s));
  }
  return sessions;
}

void record_session(const std::string& out, const SweepSession& x) {
  io::Json all = sessions_json(out);  // earlier entries stay as written
  all.push_back(io::Json{{"started_utc", x.started_utc},
                         {"elapsed_seconds", std::round(x.elapsed_seconds * 10) / 10},
                         {"workers", x.workers},
                         {"threads", x.threads},
                         {"runs_started", x.started},
                         {"runs_finished", x.finished},
                         {"runs_failed", x.failed},
                         {"interrupted", x.interrupted},
                         {"commit", x.commit},
                         {"cpu", x.cpu},
                         {"simd", x.simd}});
  io::make_directories(out);
  io::write_file_atomically(sessions_path(out), io::json_text(all));
}

std::string provenance_text(const SweepPlan& plan, const std::vector<SweepSession>& sessions) {
  std::vector<std::string> commits, cpus;
  double run_seconds = 0;
  std::size_t n = 0;
  for (const SweepRun& run : expand(plan)) {
    const auto r = read_result(run.dir);
    if (!r) continue;
    ++n;
    run_seconds += r->train_seconds;
    commits.push_back(r->commit.empty() ? "an unrecorded commit" : "commit " + r->commit);
    cpus.push_back(r->cpu.empty() ? "an unrecorded CPU" : r->cpu);
  }
  if (n == 0) return {};
  std::string t = fmt::format("Runs finished by bitsim at {}; on {}.\n", counted(commits, "run"), counted(cpus, "run"));
  t += fmt::format("Time: the {} run{} trained for {} in all (the sum of their `train_seconds`)", n, n == 1 ? "" : "s",
                   duration(run_seconds));
  if (sessions.empty()) return t + ".\n";
  double elapsed = 0;
  std::vector<std::string> shapes;
  for (const SweepSession& s : sessions) {
    elapsed += s.elapsed_seconds;
    shapes.push_back(fmt::format("{} worker{} × {} thread{}", s.workers, s.workers == 1 ? "" : "s", s.threads, s.threads == 1 ? "" : "s"));
  }
  t += fmt::format("; the sweep sessions that ran them took {} elapsed: {} (`sessions.json`).\n", duration(elapsed),
                   counted(shapes, "session"));
  return t;
}

}  // namespace bitsim::sweep
