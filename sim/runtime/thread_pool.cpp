#include "sim/runtime/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <immintrin.h>
#include <sched.h>

namespace bitsim::sim {

int all_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace bitsim::sim

namespace bitsim::sim::detail {

namespace {

thread_local bool tl_is_worker = false;

// Waiting spins this many pause instructions (some tens of microseconds) before sleeping on a
// condition variable: kernel calls come in quick succession, and waking a sleeping thread costs about
// as much as the thread creation the pool replaces.
constexpr int kSpin = 4000;

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& t : workers_) t.join();
  }

  bool run(int parts, const std::function<void(int)>& job) {
    if (busy_.exchange(true)) return false;  // a job is running (possibly this thread's own: nested call)
    {
      std::lock_guard<std::mutex> lock(m_);
      while (static_cast<int>(workers_.size()) < parts - 1) {
        const int index = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, index] { loop(index); });
      }
      job_ = &job;
      parts_ = parts;
      remaining_ = parts - 1;
      ++generation_;
    }
    start_.notify_all();
    job(0);
    for (int i = 0; i < kSpin && remaining_.load() != 0; ++i) _mm_pause();
    if (remaining_.load() != 0) {
      std::unique_lock<std::mutex> lock(m_);
      done_.wait(lock, [this] { return remaining_.load() == 0; });
    }
    job_ = nullptr;
    busy_.store(false);
    return true;
  }

 private:
  void loop(int index) {
    tl_is_worker = true;
    std::uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpin && generation_.load() == seen && !stop_.load(); ++i) _mm_pause();
      if (generation_.load() == seen && !stop_.load()) {
        std::unique_lock<std::mutex> lock(m_);
        start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      }
      if (stop_.load()) return;
      seen = generation_.load();
      if (index >= parts_) continue;
      (*job_)(index);
      if (remaining_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(m_);
        done_.notify_one();
      }
    }
  }

  std::atomic<bool> busy_{false};  // set while one caller's job is running
  std::mutex m_;
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;  // written before generation_ is advanced
  int parts_ = 0;
  std::atomic<int> remaining_{0};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace

bool run_on_pool(int parts, const std::function<void(int)>& job) {
  if (tl_is_worker || parts < 2 || parts > 64) return false;
  static Pool pool;
  return pool.run(parts, job);
}

}  // namespace bitsim::sim::detail
