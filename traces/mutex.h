#pragma once
// fm::traces::Mutex: a std::mutex with absl::Mutex's shape (Lock/Unlock/Await) and the same clang
// thread-safety annotations. Why not absl::Mutex: Debian's libabsl is not built with
// ThreadSanitizer, so TSan cannot see its synchronisation and reports every guarded access as a
// race; traces/ is what the CI's TSan stage checks (DESIGN.md §10), and TSan does intercept
// std::mutex. Used only inside traces/.

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace fm::traces {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  // Every unlock wakes the Await()ers so they re-check their condition, as absl::Mutex does; with
  // no waiter the notify is a single atomic read.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    mu_.unlock();
    cv_.notify_all();
  }

  // Blocks (releasing the lock meanwhile) until done() holds. Call with the lock held.
  template <typename Pred>
  void Await(Pred done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();
  }
  // As Await, giving up after `timeout`; returns done().
  template <typename Pred>
  bool AwaitWithTimeout(Pred done, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool ok = cv_.wait_for(lock, timeout, done);
    lock.release();
    return ok;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace fm::traces
