#pragma once
// Reconstructs one request's residency at any time from the store: the latest keyframe at or before
// t, then the Page events after it. Moving forward in time (live, or replay playing) applies only
// the new events, so the per-frame cost is proportional to what changed, not to the request size.

#include <cstdint>

#include "profiler-ui/model/residency_grid.h"
#include "profiler-ui/store/store.h"

namespace fm::ui {

class ResidencyCursor {
 public:
  // The residency of `request_id` at t_ns (events with t <= t_ns applied). The reference stays
  // valid until the next Seek. Store must be Commit()ed; pass the same store each time (a different
  // or cleared store is detected by its session count and event count and rebuilds from scratch).
  const ResidencyGrid& Seek(const Store& store, uint32_t request_id, int64_t t_ns);

  // Page events applied by the last Seek (0 when nothing changed): for the benchmark and tests.
  uint64_t last_applied() const { return last_applied_; }

 private:
  void Rebuild(const Store& store, uint32_t request_id, int64_t t_ns);
  void ApplyUntil(const Store& store, int64_t t_ns);

  ResidencyGrid grid_;
  bool valid_ = false;
  uint32_t request_id_ = 0;
  int64_t t_ns_ = 0;
  int64_t keyframe_ns_ = kNeverNs;
  size_t next_event_ = 0;       // index into the request's PageEvents
  size_t keyframe_count_ = 0;   // keyframes in the store when built (a new one may be closer)
  uint64_t session_ = 0;
  uint64_t events_at_build_ = 0;
  uint64_t last_applied_ = 0;
};

}  // namespace fm::ui
