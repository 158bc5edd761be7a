#pragma once
// Building copy batches: coalescing slot-sized page moves into contiguous ranges (one descriptor
// per run, DESIGN.md §5), and handing them out within a per-step byte budget (DESIGN.md §5
// invariant 7).

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/types/span.h"
#include "scheduler/copy_engine.h"

namespace fm::sched {

// One slot-sized move: a whole page, every CSA layer, one contiguous run in both pools.
struct PageMove {
  int64_t src_offset_bytes = 0;
  int64_t dst_offset_bytes = 0;
};

// Appends `moves` (each `slot_bytes` long) to *out, merging a move into the previous range when
// both its source and its destination continue that range. Callers sort moves by source so that
// adjacent cold pages given adjacent slots become one descriptor.
void CoalescePageMoves(absl::Span<const PageMove> moves, int64_t slot_bytes,
                       std::vector<CopyRange>* out);

// A FIFO of ranges not yet submitted, handed out under a byte budget. Ranges are cut only at slot
// boundaries, so a slot is never half-copied by one batch and half by the next one.
class CopyQueue {
 public:
  void Push(const CopyRange& r);
  bool empty() const { return ranges_.empty(); }
  int64_t pending_bytes() const { return pending_bytes_; }
  // Moves up to `budget_bytes` (rounded down to whole slots) from the front into *out and returns
  // the bytes moved. When `at_least_one_slot` is set and the budget is below one slot, one slot is
  // moved anyway, so a budget smaller than a slot still makes progress.
  int64_t Take(int64_t budget_bytes, int64_t slot_bytes, bool at_least_one_slot,
               std::vector<CopyRange>* out);
  void Clear();

 private:
  std::deque<CopyRange> ranges_;
  int64_t pending_bytes_ = 0;
};

}  // namespace fm::sched
