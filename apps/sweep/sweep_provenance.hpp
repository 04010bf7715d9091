// Where a sweep's table came from: the commits and CPUs that trained its runs (from their
// result.json), the sum of their training times, and the elapsed time of the sweep sessions that ran
// them (<out>/sessions.json, one entry per `bitsim sweep` process that started runs). A long table is
// made in several sessions, on several machines (docs/sweeps.md, "Long tables"); its header says so.
#pragma once

#include "apps/sweep/sweep_plan.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bitsim::sweep {

struct SweepSession {
  std::string started_utc;  // "2026-12-06T14:05:00Z"
  double elapsed_seconds = 0;
  std::int64_t workers = 1, threads = 1;
  std::int64_t started = 0, finished = 0, failed = 0;  // runs
  bool interrupted = false;
  std::string commit, cpu, simd;  // of the bitsim that ran the session
};

// The current time as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_now();

// <out>/sessions.json's entries; none when the file is absent. Throws SweepError on a file that is
// not a sessions list (naming it), so a damaged record is noticed rather than overwritten.
std::vector<SweepSession> read_sessions(const std::string& out);
// Appends one entry to <out>/sessions.json (written atomically).
void record_session(const std::string& out, const SweepSession& session);

// The header lines of table.md that say how the table was made: commits and CPUs of the runs, the sum
// of their training times, and the sessions' elapsed time with their workers and threads. Empty when
// no run has a result.
std::string provenance_text(const SweepPlan& plan, const std::vector<SweepSession>& sessions);

}  // namespace bitsim::sweep
