#include "scheduler/copy_plan.h"

#include <algorithm>

#include "common/check.h"

namespace fm::sched {

void CoalescePageMoves(absl::Span<const PageMove> moves, int64_t slot_bytes,
                       std::vector<CopyRange>* out) {
  bool can_merge = false;  // never merge into a range that was in *out before this call
  for (const PageMove& m : moves) {
    if (can_merge) {
      CopyRange& last = out->back();
      if (last.src_offset_bytes + last.bytes == m.src_offset_bytes &&
          last.dst_offset_bytes + last.bytes == m.dst_offset_bytes) {
        last.bytes += slot_bytes;
        continue;
      }
    }
    out->push_back(CopyRange{m.src_offset_bytes, m.dst_offset_bytes, slot_bytes});
    can_merge = true;
  }
}

void CopyQueue::Push(const CopyRange& r) {
  FM_CHECK(r.bytes > 0);
  ranges_.push_back(r);
  pending_bytes_ += r.bytes;
}

int64_t CopyQueue::Take(int64_t budget_bytes, int64_t slot_bytes, bool at_least_one_slot,
                        std::vector<CopyRange>* out) {
  FM_CHECK(slot_bytes > 0);
  int64_t budget = std::max<int64_t>(0, budget_bytes) / slot_bytes * slot_bytes;
  if (budget == 0 && at_least_one_slot) budget = slot_bytes;
  int64_t taken = 0;
  while (!ranges_.empty() && taken < budget) {
    CopyRange& front = ranges_.front();
    const int64_t n = std::min(front.bytes, budget - taken);
    out->push_back(CopyRange{front.src_offset_bytes, front.dst_offset_bytes, n});
    taken += n;
    if (n == front.bytes) {
      ranges_.pop_front();
    } else {
      front.src_offset_bytes += n;
      front.dst_offset_bytes += n;
      front.bytes -= n;
    }
  }
  pending_bytes_ -= taken;
  return taken;
}

void CopyQueue::Clear() {
  ranges_.clear();
  pending_bytes_ = 0;
}

}  // namespace fm::sched
