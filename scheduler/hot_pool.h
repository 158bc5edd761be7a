#pragma once
// The hot pool's slot table: one state per slot, reference counts from the request tables, the
// free set and the LRU of Cached slots (DESIGN.md §2.2). It holds no bytes; the runtime owns the
// device memory and the scheduler decides what goes where. Not thread-safe: only the planner
// thread touches it.

#include <cstdint>
#include <set>
#include <vector>

#include "scheduler/geometry.h"

namespace fm::sched {

// Slot life cycle: Free -> Fetching -> Hot <-> Cached -> Free, or Free -> Dirty -> WritingBack ->
// Hot for decode tail pages. Values match nothing on the wire; see PageStateOf for telemetry.
enum class SlotState : uint8_t { kFree, kFetching, kHot, kCached, kDirty, kWritingBack };

const char* SlotStateName(SlotState s);

struct SlotInfo {
  SlotState state = SlotState::kFree;
  RequestId owner;        // valid unless Free
  PageIndex page;         // owner's logical page, valid unless Free
  int32_t refs = 0;       // live + staged table references (0..2)
  int32_t lru_prev = -1;  // toward the most recently used end; Cached slots only
  int32_t lru_next = -1;  // toward the least recently used end
};

class HotPool {
 public:
  explicit HotPool(int32_t slots_total);

  int32_t slots_total() const { return static_cast<int32_t>(slots_.size()); }
  const SlotInfo& info(SlotId s) const { return slots_[static_cast<size_t>(s.v)]; }
  int32_t free_count() const { return static_cast<int32_t>(free_.size()); }
  int32_t cached_count() const { return cached_count_; }
  int32_t CountInState(SlotState state) const;
  // Free slots in ascending order: the allocator prefers the slot after the previous one so that
  // adjacent cold pages land in adjacent slots and coalesce into one copy.
  const std::set<int32_t>& free_slots() const { return free_; }
  // The least recently used Cached slot (the next victim), or an invalid id.
  SlotId LruOldest() const { return SlotId{lru_tail_}; }
  // The Cached slot used just after `s` (toward the newest end), or an invalid id.
  SlotId LruNewer(SlotId s) const { return SlotId{info(s).lru_prev}; }

  // Gives a Free or Cached slot to (owner, page) in state Fetching or Dirty, with no reference.
  // Aborts (FM_CHECK) on any other state: the planner only picks victims from Free and Cached.
  void Claim(SlotId s, RequestId owner, PageIndex page, SlotState state);
  // A table references the slot. A Cached slot becomes Hot again (an LRU hit).
  void Ref(SlotId s);
  // A table stops referencing the slot. A Hot slot with no reference left becomes Cached at the
  // most recently used end of the LRU.
  void Unref(SlotId s);
  // Fetching -> Hot once its copy has landed (checked by the caller) and the table went live.
  void MarkFetched(SlotId s);
  // Hot (a tail page being filled by decode) -> Dirty; Dirty -> WritingBack when the D2H is issued.
  void MarkDirty(SlotId s);
  void StartWriteback(SlotId s);
  // WritingBack -> Hot (still referenced) or Cached (not).
  void FinishWriteback(SlotId s);
  // Any unreferenced slot -> Free (the request finished, or its copy was dropped).
  void Release(SlotId s);

  // FM_CHECKs the structure: free set, LRU links and counts agree with the states.
  void CheckConsistent() const;

 private:
  void LruPushNewest(int32_t s);
  void LruRemove(int32_t s);

  std::vector<SlotInfo> slots_;
  std::set<int32_t> free_;
  int32_t lru_head_ = -1;  // most recently used
  int32_t lru_tail_ = -1;  // least recently used: the next victim
  int32_t cached_count_ = 0;
};

}  // namespace fm::sched
