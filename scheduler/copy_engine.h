#pragma once
// The interface the scheduler submits page copies through (DESIGN.md §4-§5). Implementations: the
// CPU `SimLink` (scheduler/sim_link.h) and the CUDA copy engine in runtime/backend/cuda. A copy
// engine is built over two fixed pools (cold = pinned host, hot = device) and takes byte ranges
// relative to them, so every range is bounds-checked in one place.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fm::sched {

enum class CopyDirection : uint8_t {
  kHostToDevice = 0,  // cold pool -> hot pool (prefetch)
  kDeviceToHost = 1,  // hot pool -> cold pool (write-back of filled tail pages)
};

// One contiguous copy: a descriptor of cudaMemcpyBatchAsync. Offsets are into the source and
// destination pools of the batch's direction.
struct CopyRange {
  int64_t src_offset_bytes = 0;
  int64_t dst_offset_bytes = 0;
  int64_t bytes = 0;
  friend bool operator==(const CopyRange&, const CopyRange&) = default;
};

// Completion handle of one submitted batch. Batches of one direction complete in submission order
// (one FIFO per direction, like one copy engine per direction), so waiting on a ticket also covers
// every earlier ticket of the same direction. seq starts at 1; 0 means "no copy".
struct CopyTicket {
  CopyDirection direction = CopyDirection::kHostToDevice;
  uint64_t seq = 0;
  bool valid() const { return seq != 0; }
};

class CopyEngine {
 public:
  virtual ~CopyEngine() = default;
  // Enqueues one batch and returns at once. InvalidArgument when a range is empty or outside its
  // pool; ResourceExhausted when too many batches are pending. Called from the planner thread.
  virtual absl::StatusOr<CopyTicket> Submit(CopyDirection direction,
                                            absl::Span<const CopyRange> ranges) = 0;
  // True once every byte of the batch has landed. Never blocks for the copy itself.
  virtual bool IsDone(CopyTicket ticket) = 0;
  // Blocks until the batch has landed and returns the time waited in ns (the publish stall). On a
  // virtual clock, waiting means the clock moves forward to the completion time.
  virtual absl::StatusOr<int64_t> Wait(CopyTicket ticket) = 0;
};

}  // namespace fm::sched
