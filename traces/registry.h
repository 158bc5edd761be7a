#pragma once
// fm::traces::Registry: the one process-wide singleton of flashmem (STYLE.md). It owns the
// per-thread event rings, the interned string table and the track table. Producers reach it only
// through the inline functions in emit.h; the Collector reads it from the drain thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "traces/mutex.h"
#include "traces/event_ring.h"
#include "traces/payloads.h"
#include "traces/wire_schema.h"

namespace fm::traces {

namespace internal {
// Set while a Collector is running; every emit checks it first (one relaxed load and a branch).
inline std::atomic<bool> g_enabled{false};
// Event categories (Control SetCategories): bit k set = EventKind k is recorded. Every kind is on
// when a Collector starts.
inline constexpr uint64_t kAllEventCategories = ~uint64_t{0};
inline std::atomic<uint64_t> g_categories{kAllEventCategories};
// Session epoch on the MonotonicNs() clock; written once by the Registry constructor.
inline std::atomic<int64_t> g_epoch_ns{0};
// The calling thread's ring, or null before its first emit.
inline constinit thread_local EventRing* t_ring = nullptr;
// Slow path of the first emit on a thread: claims or creates a ring. Null when all kMaxRings are
// taken (the record is then counted in Registry::unregistered_dropped()).
EventRing* AcquireThreadRing();
}  // namespace internal

class Registry {
 public:
  static constexpr size_t kMaxRings = 256;
  static constexpr size_t kDefaultRingCapacity = 8192;

  // The process-wide instance, created on first use (thread-safe).
  static Registry& Global();

  // Returns the id of `text` (>= 1), adding it on first sight. Ids are stable for the process.
  // Thread-safe; takes a mutex, so static sites call it once (FM_ZONE does) and keep the id.
  uint32_t Intern(std::string_view text);

  // Defines a new track and returns its id (>= 1). Thread-safe.
  uint16_t DefineTrack(TrackType type, std::string_view name);

  // Renames the calling thread's track (e.g. "engine", "planner"); creates its ring if needed.
  void SetThreadName(std::string_view name);

  // Ring capacity for rings created from now on (rounded up to a power of two).
  void SetRingCapacity(size_t records);

  // ---- Read side (the Collector) ----
  // Rings created so far; entries never move or disappear, so the drain thread reads without a lock.
  size_t ring_count() const { return ring_count_.load(std::memory_order_acquire); }
  EventRing* ring(size_t i) const { return rings_[i].load(std::memory_order_acquire); }
  // Appends strings/track definitions made since `from` (an index into the definition log) and
  // returns the new end of the log. Every definition, including renames, appears once in order.
  size_t CopyStringsSince(size_t from, std::vector<StringDefEntry>* out) const;
  size_t CopyTracksSince(size_t from, std::vector<TrackDefEntry>* out) const;
  // Counts a record lost because its thread could get no ring (all kMaxRings in use).
  void CountUnregisteredDrop() { unregistered_dropped_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t unregistered_dropped() const {
    return unregistered_dropped_.load(std::memory_order_relaxed);
  }

  int64_t epoch_monotonic_ns() const { return epoch_monotonic_ns_; }
  int64_t epoch_realtime_ns() const { return epoch_realtime_ns_; }

 private:
  Registry();
  friend EventRing* internal::AcquireThreadRing();
  EventRing* ClaimRing();
  void ReleaseRing(EventRing* ring);
  uint16_t ThreadTrack(EventRing* ring, std::string_view name);
  friend struct RingReleaser;

  int64_t epoch_monotonic_ns_;
  int64_t epoch_realtime_ns_;
  std::atomic<EventRing*> rings_[kMaxRings] = {};
  std::atomic<size_t> ring_count_{0};
  std::atomic<uint64_t> unregistered_dropped_{0};
  std::atomic<size_t> ring_capacity_{kDefaultRingCapacity};

  mutable Mutex mu_;
  std::vector<std::unique_ptr<EventRing>> owned_rings_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> string_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<StringDefEntry> strings_ ABSL_GUARDED_BY(mu_);
  std::vector<TrackDefEntry> track_log_ ABSL_GUARDED_BY(mu_);
  uint32_t next_track_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace fm::traces
