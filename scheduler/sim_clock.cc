#include "scheduler/sim_clock.h"

#include <algorithm>

#include "common/clock.h"

namespace fm::sched {

int64_t RealClock::NowNs() const { return MonotonicNs(); }

void VirtualClock::AdvanceTo(int64_t t_ns) {
  std::lock_guard<std::mutex> advance(advance_mu_);
  int64_t cur = now_ns_.load(std::memory_order_acquire);
  while (cur < t_ns && !now_ns_.compare_exchange_weak(cur, t_ns, std::memory_order_acq_rel)) {
  }
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fns.reserve(listeners_.size());
    for (const Listener& l : listeners_) fns.push_back(l.fn);
  }
  // Listeners take their own locks (SimLink's); calling them without mu_ keeps lock order simple.
  for (const auto& fn : fns) fn();
}

int VirtualClock::AddListener(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  const int handle = next_handle_++;
  listeners_.push_back(Listener{handle, std::move(fn)});
  return handle;
}

void VirtualClock::RemoveListener(int handle) {
  // Taking advance_mu_ guarantees that no advance is still running the removed callback when this
  // returns, so its owner may be destroyed.
  std::lock_guard<std::mutex> advance(advance_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(),
                                  [handle](const Listener& l) { return l.handle == handle; }),
                   listeners_.end());
}

}  // namespace fm::sched
