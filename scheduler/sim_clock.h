#pragma once
// Clocks for SimLink and the scheduler tests: the host's monotonic clock, or a virtual clock that
// only moves when a test (or a waiter) moves it, so overlap and stalls are exact and repeatable.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace fm::sched {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time in ns. Thread-safe.
  virtual int64_t NowNs() const = 0;
  // True when time moves only through AdvanceTo.
  virtual bool is_virtual() const = 0;
  // Virtual clock: moves time forward to t_ns (never backward) and then calls every listener, from
  // the calling thread, with no clock lock held. Real clock: no-op.
  virtual void AdvanceTo(int64_t t_ns) = 0;
  // Registers a callback run after each advance; returns a handle for RemoveListener. Real clocks
  // never call it. Thread-safe.
  virtual int AddListener(std::function<void()> fn) = 0;
  virtual void RemoveListener(int handle) = 0;
};

// CLOCK_MONOTONIC (common/clock.h).
class RealClock final : public Clock {
 public:
  int64_t NowNs() const override;
  bool is_virtual() const override { return false; }
  void AdvanceTo(int64_t) override {}
  int AddListener(std::function<void()>) override { return 0; }
  void RemoveListener(int) override {}
};

// Starts at `start_ns`; thread-safe.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(int64_t start_ns = 0) : now_ns_(start_ns) {}
  int64_t NowNs() const override { return now_ns_.load(std::memory_order_acquire); }
  bool is_virtual() const override { return true; }
  void AdvanceTo(int64_t t_ns) override;
  void AdvanceBy(int64_t dt_ns) { AdvanceTo(NowNs() + dt_ns); }
  int AddListener(std::function<void()> fn) override;
  void RemoveListener(int handle) override;

 private:
  struct Listener {
    int handle;
    std::function<void()> fn;
  };
  // std::mutex rather than absl::Mutex: Debian's absl is not built with ThreadSanitizer, so TSan
  // cannot see its synchronisation and reports false races; it does intercept pthread mutexes.
  std::atomic<int64_t> now_ns_;
  std::mutex mu_;  // guards next_handle_, listeners_
  int next_handle_ = 1;
  std::vector<Listener> listeners_;
  // Serialises advances, so listeners run one advance at a time and never concurrently with
  // RemoveListener's return.
  std::mutex advance_mu_;
};

}  // namespace fm::sched
