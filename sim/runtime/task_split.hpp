// Deterministic split of independent work over threads (gemm.cpp rows; conv2d.cpp and elementwise.cpp
// GEMM tasks). Internal to sim/.
#pragma once

#include "sim/runtime/thread_pool.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace bitsim::sim::detail {

// Runs body(begin, end) on min(threads, count) threads, thread b on the contiguous block
// [count*b/T, count*(b+1)/T) (the calling thread takes block 0), and rethrows the exception of the
// lowest failing block: with blocks processed in increasing order, that is the first failure a
// sequential run would meet.
template <class Body> void run_blocks(std::int64_t count, int threads, Body body) {
  const int t = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, count)));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  auto run = [&](int b) {
    try {
      body(count * b / t, count * (b + 1) / t);
    } catch (...) {
      errors[static_cast<std::size_t>(b)] = std::current_exception();
    }
  };
  if (!run_on_pool(t, run)) {  // persistent workers; else (nested or concurrent calls) own threads
    std::vector<std::thread> pool;
    for (int b = 1; b < t; ++b) pool.emplace_back(run, b);
    run(0);
    for (auto& th : pool) th.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Runs task(t, inner_threads) for t = 0 .. count-1. With at least as many tasks as threads, thread b
// runs the contiguous block [count*b/T, count*(b+1)/T) in increasing order with inner_threads = 1;
// otherwise the tasks run one after the other on the calling thread with inner_threads = threads (for
// gemm()'s own row split). Tasks must write disjoint outputs, so the result never depends on the split.
// A block stops at its first failing task; the exception rethrown is that of the lowest failing
// task, which is the same task the sequential run would stop at.
template <class Task> void run_tasks(std::int64_t count, int threads, Task task) {
  const int t = std::max(1, threads);
  if (t == 1 || count < t) {
    for (std::int64_t i = 0; i < count; ++i) task(i, t);
    return;
  }
  run_blocks(count, t, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) task(i, 1);
  });
}

}  // namespace bitsim::sim::detail
