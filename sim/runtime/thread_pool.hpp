// Persistent worker threads for detail::run_blocks (task_split.hpp): creating and joining threads on
// every kernel call cost about 36 microseconds a call, a few hundred times per training step.
// Internal to sim/.
#pragma once

#include <functional>

namespace bitsim::sim {

// What a thread count of 0 stands for (config `threads = 0`, `--threads 0`): the cores this process
// may run on (its CPU affinity, as taskset and Slurm set it), at least 1.
int all_cores();

}  // namespace bitsim::sim

namespace bitsim::sim::detail {

// Runs job(b) for b = 1 .. parts-1 on pool workers and job(0) on the calling thread, and returns when
// all are done. Returns false without running anything when the pool cannot take the job (it is
// already running one, e.g. a nested call, or the caller is a pool worker): the caller then uses its
// own threads. `job` must not throw.
bool run_on_pool(int parts, const std::function<void(int)>& job);

}  // namespace bitsim::sim::detail
