#pragma once
// The hot-path telemetry API. Every function here is inline: with no collector running an emit
// is one relaxed atomic load and a branch; when running, a clock read (where the caller gives no
// time) and a 32-byte store into the calling thread's ring. Never blocks, never allocates after
// the thread's first emit, never formats strings: names are StringIds from Intern() made once at
// a static site (DESIGN.md §6).

#include <bit>
#include <cstdint>
#include <string_view>

#include "common/clock.h"
#include "traces/registry.h"
#include "traces/wire_schema.h"

namespace fm::traces {

// True while a Collector is running.
inline bool Enabled() { return internal::g_enabled.load(std::memory_order_relaxed); }

// Event categories: bit k of `mask` set records EventKind k, a clear bit drops that kind at the
// emit site (no ring slot, no drain work). Applies at once to every thread; reset to every kind
// when a Collector starts. Used by Control SetCategories to thin a live stream.
inline void SetEventCategories(uint64_t mask) {
  internal::g_categories.store(mask, std::memory_order_relaxed);
}
inline uint64_t EventCategories() { return internal::g_categories.load(std::memory_order_relaxed); }
inline bool CategoryEnabled(uint8_t kind) { return (EventCategories() >> (kind & 63u)) & 1u; }

// Session clock: ns since the session epoch (Hello.epoch_monotonic_ns).
inline int64_t NowNs() {
  return MonotonicNs() - internal::g_epoch_ns.load(std::memory_order_relaxed);
}
// Converts a MonotonicNs() reading (e.g. a GPU time already mapped to the host clock) to t_ns.
inline int64_t ToSessionNs(int64_t monotonic_ns) {
  return monotonic_ns - internal::g_epoch_ns.load(std::memory_order_relaxed);
}

// Interns a name on the global registry (mutex; call once per site and keep the id).
inline uint32_t Intern(std::string_view text) { return Registry::Global().Intern(text); }

// Pushes `e` into the calling thread's ring. False when telemetry is off or the record was
// dropped (counted), or its kind's category is off. track 0 means "this thread's track".
inline bool TryEmit(const Event& e) {
  if (!Enabled() || !CategoryEnabled(e.kind)) return false;
  EventRing* ring = internal::t_ring;
  if (ring == nullptr) [[unlikely]] {
    ring = internal::AcquireThreadRing();
    if (ring == nullptr) {
      Registry::Global().CountUnregisteredDrop();
      return false;
    }
  }
  return ring->TryPush(e);
}

inline void Emit(EventKind kind, uint32_t name, int64_t t_ns, uint64_t a, uint64_t b,
                 uint16_t track = 0, uint8_t flags = 0) {
  if (!Enabled()) return;
  TryEmit(Event{static_cast<uint8_t>(kind), flags, track, name, t_ns, a, b});
}

// ---- Typed helpers, one per EventKind (field meanings: wire_schema.h, DESIGN.md §6) ----

inline void EmitZone(uint32_t name, int64_t start_ns, int64_t duration_ns, uint64_t arg = 0,
                     uint16_t track = 0, uint8_t flags = 0) {
  Emit(EventKind::kZone, name, start_ns, static_cast<uint64_t>(duration_ns), arg, track, flags);
}
// Counter units come from the name suffix: _bytes, _ns, _count.
inline void EmitCounter(uint32_t name, int64_t value, uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kCounter, name, NowNs(), static_cast<uint64_t>(value), 0, track);
}
inline void EmitStep(int64_t gpu_end_ns, uint64_t step, uint32_t rows, uint32_t tokens,
                     uint16_t track = 0, uint8_t flags = kGpuTime) {
  Emit(EventKind::kStep, 0, gpu_end_ns, step, PackLoHi(rows, tokens), track, flags);
}
inline void EmitRequest(uint32_t request_id, RequestState state, uint32_t row, uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kRequest, 0, NowNs(), request_id, PackRequestB(state, row), track);
}
inline void EmitSelect(uint32_t request_id, uint32_t cycle, uint16_t selected, uint16_t missing,
                       uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kSelect, 0, NowNs(), request_id, PackSelect(cycle, selected, missing), track);
}
inline void EmitCopyIssue(uint64_t copy_id, uint64_t bytes, uint16_t stream_track) {
  if (!Enabled()) return;
  Emit(EventKind::kCopyIssue, 0, NowNs(), copy_id, bytes, stream_track);
}
inline void EmitCopyDone(uint64_t copy_id, int64_t gpu_start_ns, int64_t gpu_duration_ns,
                         uint16_t stream_track, uint8_t flags = kGpuTime) {
  Emit(EventKind::kCopyDone, 0, gpu_start_ns, copy_id, static_cast<uint64_t>(gpu_duration_ns),
       stream_track, flags);
}
inline void EmitPage(uint32_t request_id, uint32_t page, PageState state, uint32_t slot,
                     uint32_t layer_mask, uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kPage, 0, NowNs(), PackLoHi(request_id, page),
       PackPageB(state, slot, layer_mask), track);
}
inline void EmitPublish(uint32_t request_id, int64_t gpu_flip_ns, uint32_t generation,
                        uint64_t stall_ns, uint16_t track = 0, uint8_t flags = kGpuTime) {
  uint32_t stall = stall_ns > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<uint32_t>(stall_ns);
  Emit(EventKind::kPublish, 0, gpu_flip_ns, request_id, PackLoHi(generation, stall), track, flags);
}
inline void EmitParam(uint32_t name, double value, uint32_t request_id = kAllRequests,
                      uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kParam, name, NowNs(), std::bit_cast<uint64_t>(value), request_id, track);
}
inline void EmitMark(uint32_t name, uint64_t arg0 = 0, uint64_t arg1 = 0, uint16_t track = 0) {
  if (!Enabled()) return;
  Emit(EventKind::kMark, name, NowNs(), arg0, arg1, track);
}

}  // namespace fm::traces
