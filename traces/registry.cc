#include "traces/registry.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "common/clock.h"

#if defined(FM_HAVE_NVTX3)
#include <nvtx3/nvToolsExt.h>
#endif

namespace fm::traces {

// Hands the thread's ring back when the thread exits, so a program that starts and joins many
// threads reuses a bounded set of rings.
struct RingReleaser {
  EventRing* ring = nullptr;
  ~RingReleaser() {
    if (ring == nullptr) return;
    internal::t_ring = nullptr;
    Registry::Global().ReleaseRing(ring);
  }
};

namespace internal {
EventRing* AcquireThreadRing() {
  static thread_local RingReleaser releaser;
  if (releaser.ring != nullptr) return releaser.ring;
  EventRing* ring = Registry::Global().ClaimRing();
  releaser.ring = ring;
  t_ring = ring;
  return ring;
}
}  // namespace internal

Registry& Registry::Global() {
  static Registry* registry = new Registry();  // never destroyed: threads may emit during exit
  return *registry;
}

Registry::Registry() : epoch_monotonic_ns_(MonotonicNs()), epoch_realtime_ns_(RealtimeNs()) {
  internal::g_epoch_ns.store(epoch_monotonic_ns_, std::memory_order_relaxed);
}

uint32_t Registry::Intern(std::string_view text) {
  MutexLock lock(&mu_);
  std::string key(text);
  auto it = string_ids_.find(key);
  if (it != string_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(strings_.size() + 1);
  string_ids_.emplace(key, id);
  strings_.push_back(StringDefEntry{id, std::move(key)});
  return id;
}

uint16_t Registry::DefineTrack(TrackType type, std::string_view name) {
  uint32_t name_id = Intern(name);
  MutexLock lock(&mu_);
  // Track ids are u16 on the wire; past 65535 tracks every new one shares the last id rather
  // than wrapping onto a live track.
  uint16_t id = static_cast<uint16_t>(next_track_ > 0xFFFF ? 0xFFFF : next_track_);
  if (next_track_ <= 0xFFFF) ++next_track_;
  track_log_.push_back(TrackDefEntry{id, type, name_id});
  return id;
}

uint16_t Registry::ThreadTrack(EventRing* ring, std::string_view name) {
  uint16_t id = DefineTrack(TrackType::kThread, name);
  ring->track.store(id, std::memory_order_release);
  return id;
}

void Registry::SetThreadName(std::string_view name) {
#if defined(FM_HAVE_NVTX3)
  // Nsight Systems then shows the thread under the same name as our profiler.
  nvtxNameOsThreadA(static_cast<uint32_t>(::syscall(SYS_gettid)), std::string(name).c_str());
#endif
  EventRing* ring = internal::t_ring != nullptr ? internal::t_ring : internal::AcquireThreadRing();
  if (ring == nullptr) return;
  uint16_t track = ring->track.load(std::memory_order_acquire);
  uint32_t name_id = Intern(name);
  MutexLock lock(&mu_);
  track_log_.push_back(TrackDefEntry{track, TrackType::kThread, name_id});  // a rename
}

void Registry::SetRingCapacity(size_t records) {
  ring_capacity_.store(records, std::memory_order_relaxed);
}

EventRing* Registry::ClaimRing() {
  std::string name = absl::StrFormat("thread %d", static_cast<int>(::syscall(SYS_gettid)));
  // Reuse a ring whose owner exited and whose records the collector has already taken, so a
  // new thread's records never carry the previous owner's track.
  size_t n = ring_count();
  for (size_t i = 0; i < n; ++i) {
    EventRing* r = ring(i);
    uint32_t expected = kRingFree;
    if (r->occupancy() == 0 &&
        r->owner_state.compare_exchange_strong(expected, kRingOwned, std::memory_order_acq_rel)) {
      if (r->occupancy() == 0) {
        ThreadTrack(r, name);
        return r;
      }
      r->owner_state.store(kRingFree, std::memory_order_release);
    }
  }
  EventRing* created = nullptr;
  {
    MutexLock lock(&mu_);
    size_t count = ring_count_.load(std::memory_order_relaxed);
    if (count >= kMaxRings) return nullptr;
    owned_rings_.push_back(std::make_unique<EventRing>(
        static_cast<uint32_t>(count), ring_capacity_.load(std::memory_order_relaxed)));
    created = owned_rings_.back().get();
    created->owner_state.store(kRingOwned, std::memory_order_relaxed);
    rings_[count].store(created, std::memory_order_release);
    ring_count_.store(count + 1, std::memory_order_release);
  }
  ThreadTrack(created, name);
  return created;
}

void Registry::ReleaseRing(EventRing* ring) {
  ring->owner_state.store(kRingFree, std::memory_order_release);
}

size_t Registry::CopyStringsSince(size_t from, std::vector<StringDefEntry>* out) const {
  MutexLock lock(&mu_);
  for (size_t i = from; i < strings_.size(); ++i) out->push_back(strings_[i]);
  return strings_.size();
}

size_t Registry::CopyTracksSince(size_t from, std::vector<TrackDefEntry>* out) const {
  MutexLock lock(&mu_);
  for (size_t i = from; i < track_log_.size(); ++i) out->push_back(track_log_[i]);
  return track_log_.size();
}

}  // namespace fm::traces
