#pragma once
// The CPU backend's compute pool: fork/join parallel-for over index ranges. Owned by whoever runs
// the CPU backend and passed in (no global pool). ParallelFor is called from one thread at a time.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fm::kernels::cpu {

class ThreadPool {
 public:
  // n_threads <= 0 means std::thread::hardware_concurrency(). The calling thread also works, so
  // n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into contiguous blocks of at least `grain` indices and calls fn(begin, end) on
  // each, blocking until all are done. fn must not call ParallelFor on the same pool.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int worker);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_;
  std::condition_variable cv_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_blocks_ = 0;
  int64_t next_block_ = 0;
  int64_t blocks_done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

// Runs fn over [0, n) on `pool` when there is one and more than one index, inline otherwise: the
// shape every CPU op uses, so a null pool means "single-threaded" everywhere.
inline void ParallelForOrInline(ThreadPool* pool, int64_t n, int64_t grain,
                                const std::function<void(int64_t, int64_t)>& fn) {
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, grain, fn);
  } else {
    fn(0, n);
  }
}

}  // namespace fm::kernels::cpu
