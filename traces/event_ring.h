#pragma once
// A bounded single-producer single-consumer ring of Events: one per producer thread, drained by
// the collector. The producer never blocks and never allocates: when the ring is full the record
// is dropped and counted (DESIGN.md §6).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "traces/wire_schema.h"

namespace fm::traces {

class EventRing {
 public:
  // `capacity` is rounded up to a power of two (>= 2). Allocates once, here.
  EventRing(uint32_t ring_id, size_t capacity);
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Producer thread only. False (and dropped() + 1) when the ring is full.
  bool TryPush(const Event& e) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h - cached_tail_ >= capacity_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (h - cached_tail_ >= capacity_) {
        // Single writer: a plain load+store is enough and avoids a locked RMW on the drop path.
        dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return false;
      }
    }
    slots_[h & mask_] = e;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

  // Consumer (collector) only. Copies up to `max` records into `out`, replacing track 0 with the
  // owner's track, and frees their slots. Returns how many were copied. The track is read after
  // the records are acquired, so records of a thread that took over this ring carry its track.
  size_t PopInto(Event* out, size_t max);

  uint32_t ring_id() const { return ring_id_; }
  size_t capacity() const { return capacity_; }
  uint64_t produced() const { return head_.load(std::memory_order_acquire); }  // records pushed
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t occupancy() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }

  // Ownership, managed by the Registry: a ring belongs to one live thread at a time and is handed
  // to a new thread only once its previous owner exited and the collector emptied it.
  std::atomic<uint32_t> owner_state{0};  // kRingFree / kRingOwned
  std::atomic<uint16_t> track{0};        // TrackId of the owning thread

 private:
  const uint32_t ring_id_;
  const size_t capacity_;
  const uint64_t mask_;
  std::unique_ptr<Event[]> slots_;
  // Producer-side line: head, a cached copy of tail (avoids reading the consumer's line on
  // every push) and the drop counter.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  std::atomic<uint64_t> dropped_{0};
  // Consumer-side line.
  alignas(64) std::atomic<uint64_t> tail_{0};
};

inline constexpr uint32_t kRingFree = 0;
inline constexpr uint32_t kRingOwned = 1;

}  // namespace fm::traces
