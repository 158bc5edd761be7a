// Scheduler::CheckInvariants: the residency and publish invariants of DESIGN.md §2.2 and §5,
// checked from scratch. Property tests call it after every operation.

#include <vector>

#include "absl/strings/str_format.h"
#include "scheduler/scheduler.h"

namespace fm::sched {
namespace {

absl::Status Violation(const std::string& what) {
  return absl::InternalError("scheduler invariant violated: " + what);
}

}  // namespace

absl::Status Scheduler::CheckInvariants() const {
  pool_.CheckConsistent();  // FM_CHECKs its own structure (free set, LRU links)
  const int32_t n_slots = pool_.slots_total();
  std::vector<int32_t> refs(static_cast<size_t>(n_slots), 0);
  std::vector<uint8_t> claimed(static_cast<size_t>(n_slots), 0);

  for (const auto& [id, rp] : requests_) {
    const RequestState& r = *rp;
    // The LUT is the single source of truth: every entry names a slot that records this page.
    for (size_t p = 0; p < r.slot_of_page.size(); ++p) {
      const int32_t s = r.slot_of_page[p];
      if (s < 0) continue;
      if (s >= n_slots) return Violation(absl::StrFormat("r%u page %d -> slot %d", id.v, p, s));
      const SlotInfo& i = pool_.info(SlotId{s});
      if (i.state == SlotState::kFree || i.owner != id || i.page.v != static_cast<int64_t>(p)) {
        return Violation(
            absl::StrFormat("r%u LUT page %d -> slot %d, but the slot is %s owned by r%u page %d",
                            id.v, p, s, SlotStateName(i.state), i.owner.v, i.page.v));
      }
      if (claimed[static_cast<size_t>(s)]++) {
        return Violation(absl::StrFormat("slot %d is in two LUT entries", s));
      }
    }
    for (int half = 0; half < 2; ++half) {
      const bool live = half == r.live_half;
      const std::vector<PageSlot>& entries = r.tables[half].entries;
      if (!live && !r.staged && !entries.empty()) {
        return Violation(absl::StrFormat("r%u has a staged table but no staged generation", id.v));
      }
      for (size_t k = 0; k < entries.size(); ++k) {
        const PageSlot& e = entries[k];
        if (k > 0 && !(entries[k - 1].page < e.page)) {
          return Violation(absl::StrFormat("r%u table not strictly ascending at %d", id.v, k));
        }
        // selected ⊆ resident: a table entry is a LUT entry.
        if (e.page.v >= static_cast<int64_t>(r.slot_of_page.size()) ||
            r.slot_of_page[static_cast<size_t>(e.page.v)] != e.slot.v) {
          return Violation(absl::StrFormat("r%u table page %d -> slot %d is not in the LUT", id.v,
                                           e.page.v, e.slot.v));
        }
        const SlotState st = pool_.info(e.slot).state;
        // Invariant 1/4: the live table only names slots whose bytes are complete.
        const bool readable =
            st == SlotState::kHot || st == SlotState::kDirty || st == SlotState::kWritingBack;
        if (live ? !readable : (st == SlotState::kFree || st == SlotState::kCached)) {
          return Violation(absl::StrFormat("r%u %s table page %d -> slot %d in state %s", id.v,
                                           live ? "live" : "staged", e.page.v, e.slot.v,
                                           SlotStateName(st)));
        }
        ++refs[static_cast<size_t>(e.slot.v)];
      }
    }
    // Tables ⊆ reserve: at most kmax_max + 2 entries each.
    if (static_cast<int64_t>(r.tables[0].entries.size()) > config_.kmax_max_pages + 2 ||
        static_cast<int64_t>(r.tables[1].entries.size()) > config_.kmax_max_pages + 2) {
      return Violation(absl::StrFormat("r%u table wider than kmax_max + 2", id.v));
    }
  }
  // Slots not in any LUT: Free, or waiting for a copy of a finished request to land.
  std::vector<uint8_t> waiting(static_cast<size_t>(n_slots), 0);
  for (const Draining& d : draining_) waiting[static_cast<size_t>(d.slot.v)] = 1;
  for (const Writeback& w : writebacks_) waiting[static_cast<size_t>(w.slot.v)] = 1;
  for (int32_t s = 0; s < n_slots; ++s) {
    const SlotInfo& i = pool_.info(SlotId{s});
    if (i.refs != refs[static_cast<size_t>(s)]) {
      return Violation(absl::StrFormat("slot %d has %d refs, tables hold %d", s, i.refs,
                                       refs[static_cast<size_t>(s)]));
    }
    if (i.state != SlotState::kFree && !claimed[static_cast<size_t>(s)] &&
        !waiting[static_cast<size_t>(s)]) {
      return Violation(absl::StrFormat("slot %d (%s) leaked: no LUT entry and no copy in flight", s,
                                       SlotStateName(i.state)));
    }
    if (i.state == SlotState::kWritingBack && !waiting[static_cast<size_t>(s)]) {
      return Violation(absl::StrFormat("slot %d is WritingBack without a write-back", s));
    }
  }
  return absl::OkStatus();
}

}  // namespace fm::sched
