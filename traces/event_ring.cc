#include "traces/event_ring.h"

#include <bit>
#include <cstring>

namespace fm::traces {

EventRing::EventRing(uint32_t ring_id, size_t capacity)
    : ring_id_(ring_id),
      capacity_(std::bit_ceil(capacity < 2 ? size_t{2} : capacity)),
      mask_(capacity_ - 1),
      slots_(new Event[capacity_]) {}

size_t EventRing::PopInto(Event* out, size_t max) {
  const uint64_t t = tail_.load(std::memory_order_relaxed);
  const uint64_t h = head_.load(std::memory_order_acquire);
  const uint16_t own_track = track.load(std::memory_order_acquire);
  uint64_t n = h - t;
  if (n > max) n = max;
  for (uint64_t i = 0; i < n; ++i) {
    Event e = slots_[(t + i) & mask_];
    if (e.track == 0) e.track = own_track;
    out[i] = e;
  }
  tail_.store(t + n, std::memory_order_release);
  return static_cast<size_t>(n);
}

}  // namespace fm::traces
