#pragma once
// Configuration, knobs, plans and counters of the Scheduler (scheduler/scheduler.h). Every decision
// the scheduler makes is visible in a CyclePlan or in SchedulerStats, so the runtime can emit the
// DESIGN.md §6 events (Select, CopyIssue, Page, Publish, counters) without the scheduler linking
// the telemetry library.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/copy_engine.h"
#include "scheduler/geometry.h"
#include "scheduler/selection_policy.h"

namespace fm::sched {

// Knobs settable at run time (Control frames, DESIGN.md §5). A change applies at each request's
// next cycle boundary; h2d_bytes_per_step applies at the next IssueCopies.
struct SchedulerParams {
  PolicyParams policy;
  int32_t tau_steps = 64;           // cycle length τ in decode steps, [1, 256]
  int32_t publish_delay_steps = 8;  // Δ: publish at boundary + Δ, [1, τ]
  // Cap on prefetch bytes submitted per decode step, over all requests; with staggered phases it
  // avoids every request recalling on the same step. 48 MiB ≈ 1 ms of a 50 GB/s link.
  int64_t h2d_bytes_per_step = int64_t{48} << 20;

  // InvalidArgument naming the field and value. Besides the ranges above it requires
  // τ + Δ <= tokens_per_page: decode writes at most (τ + Δ) tokens before the next table goes live,
  // and those must fit in the current tail page plus the spare (DESIGN.md §2.2 "Decode tail").
  absl::Status Validate(const GeometryConfig& geometry, int32_t kmax_max_pages) const;
};

struct SchedulerConfig {
  GeometryConfig geometry;
  int32_t slots_total = 0;       // hot pool size in slots (capacity.h SlotsNeeded)
  int32_t kmax_max_pages = 384;  // largest KMAX any request may use (device table width - 2)
  int32_t max_requests = 64;     // rows of the device tables (max_bs)
  double headroom = 0.25;        // admission keeps Σ(kmax + 2)(1 + headroom) <= slots_total
  SchedulerParams params;        // initial knobs

  absl::Status Validate() const;
};

// One page of a table and the slot holding it.
struct PageSlot {
  PageIndex page;
  SlotId slot;
  friend bool operator==(const PageSlot&, const PageSlot&) = default;
};

// A Cached slot taken from another (or the same) request's page.
struct Eviction {
  RequestId owner;
  PageIndex page;
  SlotId slot;
};

// Everything one Level-1 cycle of one request decided. Produced by Scheduler::PlanCycle without
// touching residency; Scheduler::ApplyCycle commits it.
struct CyclePlan {
  RequestId request;
  int64_t step = 0;              // boundary step (engine step)
  int64_t generation = 0;        // generation this plan stages
  uint64_t residency_epoch = 0;  // ApplyCycle refuses a plan made on an older state
  bool overrun = false;          // a generation is still in flight: nothing else is planned
  SchedulerParams params;        // knobs applied by this cycle
  int64_t context_chunks = 0;
  int32_t kmax_pages = 0;
  PageIndex tail_page;                // page receiving the next chunk; the spare is tail + 1
  std::vector<PageIndex> selected;    // policy output, ascending (before truncation)
  std::vector<PageSlot> table;        // staged table, ascending: kept + fetched + tail + spare
  std::vector<PageSlot> hits;         // selected pages already resident
  std::vector<PageSlot> fetches;      // missing pages that got a slot (copied H2D)
  std::vector<PageIndex> truncated;   // missing pages left out: no slot to spare
  std::vector<Eviction> evictions;    // Cached slots reclaimed (LRU end first)
  std::vector<PageSlot> new_tail;     // tail/spare pages given a slot without a copy (Dirty)
  std::vector<PageSlot> writebacks;   // filled tail pages written back D2H
  std::vector<CopyRange> h2d_ranges;  // coalesced prefetch descriptors
  std::vector<CopyRange> d2h_ranges;  // coalesced write-back descriptors
  int64_t h2d_bytes = 0;
  int64_t d2h_bytes = 0;
  int32_t tail_overflow_pages = 0;  // pages decode filled past the old spare (no slot held them)
  int64_t publish_step = 0;         // earliest step the staged table may go live
  int64_t next_boundary_step = 0;
};

// What IssueCopies submitted this step.
struct IssueReport {
  CopyTicket h2d;  // invalid when nothing was submitted
  int64_t h2d_bytes = 0;
  int32_t h2d_ranges = 0;
  CopyTicket d2h;
  int64_t d2h_bytes = 0;
  int32_t d2h_ranges = 0;
  std::vector<RequestId> plans_issued;  // requests whose staged plan is now fully submitted
};

enum class PublishAction { kNone, kPublish, kSlip };

// Answer to "should request r publish at this step?"
struct PublishDecision {
  PublishAction action = PublishAction::kNone;
  int64_t generation = -1;
  std::vector<CopyTicket> wait_for;  // tickets the flip must wait on (E_copy)
};

// Monotonic counters (DESIGN.md §6 standard counters).
struct SchedulerStats {
  int64_t cycles_planned = 0;
  int64_t cycle_overruns = 0;
  int64_t publish_slips = 0;
  int64_t generations_published = 0;
  int64_t pages_selected = 0;
  int64_t page_hits = 0;
  int64_t page_misses = 0;
  int64_t evictions = 0;
  int64_t pages_truncated = 0;
  int64_t writebacks = 0;
  int64_t h2d_bytes = 0;
  int64_t d2h_bytes = 0;
  int64_t publish_stall_ns = 0;
  int64_t tail_overflow_pages = 0;  // decode passed the spare before a table caught up
};

}  // namespace fm::sched
