// Runs the training runs of a sweep as child processes (`bitsim train`), at most `workers` at a time.
// A run whose folder holds result.json is skipped; one that was interrupted (checkpoint.bin, no
// result.json) continues with --resume, bit-identical to an uninterrupted run; the rest start with
// --overwrite. Before a run starts, its overrides are recorded in <run>/sweep_run.json, so a folder
// made with other overrides is noticed (warned about, and started afresh rather than resumed). Each
// run's output goes to <run>/train.log; a failed run also leaves <run>/sweep_failed (its reason). SIGINT or SIGTERM stops launching runs, passes SIGTERM to the
// running ones and waits for them; finished runs stay finished and interrupted ones keep their last
// checkpoint, so the same command resumes the sweep. With the plan's keep_checkpoints = false, a
// finished run's checkpoint is deleted (when it finishes, or when a later sweep skips it). A run with
// the same config, seed and overrides as a finished run of a reuse_from sweep is copied from it
// (every file but checkpoints, result.json last): training is deterministic, so training it again
// would give the same bits.
#pragma once

#include "apps/sweep/sweep_plan.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace bitsim::sweep {

// A finished run of another sweep (the plan's reuse_from) that a run of this one may copy.
struct ReusableRun {
  std::string note;  // its sweep_run.json identity: config, seed, overrides
  std::string dir;
};

// The finished runs of the plan's reuse_from sweeps. Throws SweepError for a sweep file that cannot be read.
std::vector<ReusableRun> reusable_runs(const SweepPlan& plan);

struct RunnerOptions {
  std::string bitsim;              // the executable to run ("train" is its first argument)
  std::int64_t workers = 1;
  std::ostream* log = nullptr;     // one line per run started, skipped, copied, finished or failed
  std::vector<ReusableRun> reusable;  // a run identical to one of these is copied instead of trained
};

struct RunnerResult {
  std::size_t skipped = 0, started = 0, finished = 0;  // started: trainings launched (fresh or resumed)
  std::size_t copied = 0;                              // identical finished runs of reuse_from sweeps copied
  std::vector<std::string> failed;  // "row seed S: reason"
  bool interrupted = false;
};

RunnerResult run_sweep(const SweepPlan& plan, const std::vector<SweepRun>& runs, const RunnerOptions& options);

// A run folder's result.json figures, if it holds a readable one (the strings are empty when the
// file predates them).
struct RunResult {
  double test_accuracy = 0, train_seconds = 0;
  std::string commit, cpu;  // of the bitsim that finished the run
  bool held_out = false;  // test_accuracy is on held-out training samples (data.holdout), not the test set
};
std::optional<RunResult> read_result(const std::string& run_dir);

// This process's place among the processes of an MPI launch (mpirun -np P bitsim sweep ...), read from
// the launcher's environment (OMPI_COMM_WORLD_RANK/SIZE, else PMI_RANK/SIZE); {0, 1} otherwise. Runs
// need no MPI communication, so the sweep does not link MPI.
struct RankInfo {
  std::int64_t rank = 0, size = 1;
};
RankInfo rank_from_environment();

// Waits until every run has finished (result.json) or failed (sweep_failed marker, written by the
// runner of whichever process ran it): how rank 0 of an MPI sweep knows the table is complete.
void wait_for_runs(const std::vector<SweepRun>& runs);

}  // namespace bitsim::sweep
