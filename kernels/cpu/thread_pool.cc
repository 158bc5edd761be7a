#include "kernels/cpu/thread_pool.h"

#include <algorithm>

namespace fm::kernels::cpu {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t blocks = std::min<int64_t>((n + grain - 1) / grain, int64_t{n_threads_} * 4);
  if (blocks <= 1 || n_threads_ == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_blocks_ = blocks;
    next_block_ = 0;
    blocks_done_ = 0;
    ++generation_;
  }
  cv_work_.notify_all();
  // The caller takes blocks too, so a pool of size 1 + k never idles the calling core.
  for (;;) {
    int64_t b;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_block_ >= job_blocks_) break;
      b = next_block_++;
    }
    fn(b * n / blocks, (b + 1) * n / blocks);
    std::lock_guard<std::mutex> lock(mu_);
    ++blocks_done_;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_done_.wait(lock, [&] { return blocks_done_ == job_blocks_; });
  job_ = nullptr;
}

void ThreadPool::WorkerLoop(int /*worker*/) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_work_.wait(lock, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
    if (stop_) return;
    seen = generation_;
    while (job_ != nullptr && next_block_ < job_blocks_) {
      int64_t b = next_block_++;
      const auto* fn = job_;
      int64_t n = job_n_, blocks = job_blocks_;
      lock.unlock();
      (*fn)(b * n / blocks, (b + 1) * n / blocks);
      lock.lock();
      if (++blocks_done_ == job_blocks_) cv_done_.notify_all();
    }
  }
}

}  // namespace fm::kernels::cpu
