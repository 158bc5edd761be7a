#pragma once
// The Scheduler: Level-1 policy + residency + prefetch planner + publish protocol for every request
// (DESIGN.md §2.2, §5). Single-threaded: only the planner thread calls it, and it has no locks.
// Plan, then apply: PlanCycle reads the state and returns a CyclePlan; ApplyCycle is the one call
// that changes residency. Deterministic: the same calls in the same order give the same plans.
//
// Per request and cycle k (boundary step b_k):
//   b_k        IsBoundary -> PlanCycle -> ApplyCycle      (staged table k written, copies queued)
//   each step  IssueCopies(step)                          (≤ h2d_bytes_per_step over all requests)
//   b_k + Δ    PublishDue -> engine waits tickets -> OnFlipped(k)   (or a counted slip)
//   any step   Poll()                                     (write-backs and finished requests)
// Slots dropped by generation k become reusable only in OnFlipped(k) (invariant 3).

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/copy_engine.h"
#include "scheduler/copy_plan.h"
#include "scheduler/hot_pool.h"
#include "scheduler/scheduler_types.h"
#include "scheduler/selection_policy.h"

namespace fm::sched {

// Inputs of one Level-1 cycle of one request.
struct CycleInput {
  RequestId request;
  int64_t step = 0;                   // engine step of the boundary
  int64_t context_chunks = 0;         // completed c4 chunks of the request now
  absl::Span<const uint8_t> density;  // PagesForChunks(context_chunks) bytes (scores D2H)
};

// A request joining. Prefill has written every c4 entry to the cold pool.
struct AdmitSpec {
  RequestId request;
  int64_t step = 0;  // engine step before the request's first decode step
  int64_t context_chunks = 0;
  std::vector<ColdPageId> cold_pages;  // logical page -> cold page, covering the tail and spare
  absl::Span<const uint8_t> density;   // Level-1 run once on the prompt (generation 0)
};

class Scheduler {
 public:
  // `copies` must outlive the scheduler. InvalidArgument for a bad config.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerConfig& config,
                                                           CopyEngine* copies);

  // Admission (DESIGN.md §5 invariant 6): plans and applies generation 0 and submits its copies
  // at once, outside the byte budget. The caller then waits for PublishDue's tickets and calls
  // OnFlipped(request, 0) before the request's first decode step. ResourceExhausted when
  // kmax + 2 > slots_total (both numbers named); Unavailable when admission must wait for slots
  // (Σ (kmax + 2)(1 + headroom) > slots_total) or all rows are taken.
  absl::StatusOr<CyclePlan> Admit(const AdmitSpec& spec);

  // Appends logical pages to a request's cold page list (new decode pages); the list must cover
  // the tail and spare pages of every later cycle.
  absl::Status AddColdPages(RequestId request, absl::Span<const ColdPageId> pages);

  // Sets knobs for all requests (request = nullopt) or one request. Validated now, applied at
  // each request's next cycle boundary.
  absl::Status SetParams(const SchedulerParams& params, std::optional<RequestId> request);

  // True when `step` is at or past the request's next cycle boundary.
  bool IsBoundary(RequestId request, int64_t step) const;

  // Plans one cycle without changing anything. When the previous generation is still
  // unpublished, the plan only records an overrun. NotFound for an unknown request;
  // InvalidArgument when the context shrank, the density has the wrong length or cold pages are
  // missing; ResourceExhausted when no slot is left even for the tail and spare pages.
  absl::Status PlanCycle(const CycleInput& input, CyclePlan* plan) const;
  // Commits a plan from PlanCycle. FailedPrecondition when the state changed since it was made.
  absl::Status ApplyCycle(const CyclePlan& plan);

  // Submits queued prefetch copies (≤ h2d_bytes_per_step, whole slots, oldest plan first) and all
  // queued write-backs. Call once per engine step.
  absl::StatusOr<IssueReport> IssueCopies(int64_t step);

  // Submits every queued copy of the request's staged generation now, outside the byte budget:
  // admission (generation 0) and --deterministic publishes, where a slip becomes a host wait.
  // Returns the ticket, or an invalid one when nothing was queued.
  absl::StatusOr<CopyTicket> IssueAllNow(RequestId request);

  // True when the live table holds the page of `chunk`, i.e. decode may write it in-graph. When
  // it does not (decode outran the tables after slips or an overrun), the engine must publish the
  // staged generation now (IssueAllNow, wait, OnFlipped) or, with none staged, run a boundary now.
  bool LiveCovers(RequestId request, ChunkIndex chunk) const;
  bool HasStaged(RequestId request) const;

  // At or after the staged generation's publish step: kPublish with the tickets to wait on when
  // every copy was submitted, else kSlip (counted). kNone when nothing is due.
  PublishDecision PublishDue(RequestId request, int64_t step);
  // The engine has flipped live_gen to `generation` after its copies landed. FailedPrecondition
  // when that generation is not the staged one or one of its copies has not landed (invariant 1).
  // Slots only the previous generation used go to Cached (LRU) or, if write-back is in flight,
  // stay WritingBack.
  absl::Status OnFlipped(RequestId request, int64_t generation, int64_t stall_ns);

  // Retires landed write-backs and frees slots of finished requests whose copies have landed.
  void Poll();

  // The request left its row and no queued GPU work still reads its table. Its slots go Free, or
  // are freed by Poll once their in-flight copies land. The report names the last copies that
  // still touch the request's cold pages: free those pages only after they land.
  struct FinishReport {
    CopyTicket last_h2d;  // reads the cold pages
    CopyTicket last_d2h;  // writes the cold pages (write-back in flight)
  };
  absl::StatusOr<FinishReport> Finish(RequestId request);

  // --- Observation (tests, telemetry, `flashmem plan`) --------------------------------------
  const SchedulerStats& stats() const { return stats_; }
  const HotPool& pool() const { return pool_; }
  const SchedulerConfig& config() const { return config_; }
  int32_t request_count() const { return static_cast<int32_t>(requests_.size()); }
  // The table the GPU reads (generation live_gen); empty before the first flip.
  absl::StatusOr<std::vector<PageSlot>> LiveTable(RequestId request) const;
  absl::StatusOr<int64_t> LiveGeneration(RequestId request) const;  // -1 before the first flip
  absl::StatusOr<int32_t> Phase(RequestId request) const;
  // The chunk -> cell lookup (the single source of truth for residency). nullopt when the page is
  // not resident; a resident cell may still be Fetching (not readable until published).
  std::optional<CellIndex> ResidentCell(RequestId request, ChunkIndex chunk) const;
  // Checks every invariant (DESIGN.md §2.2, §5): pool structure, table ⊆ LUT ⊆ pool, live tables
  // never reference Fetching/Free/Cached slots, reference counts, no leaked slot. Internal naming
  // the first violation.
  absl::Status CheckInvariants() const;

 private:
  struct Table {
    std::vector<PageSlot> entries;  // ascending page
  };
  struct RequestState {
    RequestId id;
    int32_t phase = 0;
    int64_t next_boundary_step = 0;
    int64_t context_chunks = 0;
    PageIndex tail_page;
    std::vector<ColdPageId> cold_pages;
    std::vector<int32_t> slot_of_page;  // the LUT: page -> slot, -1 when not resident
    Table tables[2];
    int live_half = 0;
    int64_t live_gen = -1;
    bool staged = false;  // a generation is in flight (applied, not flipped)
    int64_t staged_gen = -1;
    int64_t publish_step = 0;
    bool staged_issued = false;  // PlanIssued: every copy of the staged gen submitted
    std::vector<CopyTicket> staged_tickets;
    CopyQueue h2d_queue;
    std::optional<SchedulerParams> params_override;
    SchedulerParams applied_params;
  };
  struct Writeback {
    RequestId owner;
    SlotId slot;
    CopyTicket ticket;  // invalid until submitted
    CopyRange range;
  };
  struct Draining {
    SlotId slot;
    CopyTicket ticket;
  };

  Scheduler(const SchedulerConfig& config, CopyEngine* copies);
  RequestState* Find(RequestId id);
  const RequestState* Find(RequestId id) const;
  const SchedulerParams& ParamsFor(const RequestState& r) const;
  absl::Status PlanFor(const RequestState& r, const CycleInput& input, CyclePlan* plan) const;
  int32_t NextPhase(int32_t tau_steps);
  void StageTable(RequestState& r, const CyclePlan& plan);

  SchedulerConfig config_;
  CopyEngine* copies_;
  HotPool pool_;
  SchedulerParams params_;  // global knobs (pending for each request's next boundary)
  absl::flat_hash_map<RequestId, std::unique_ptr<RequestState>> requests_;
  std::vector<RequestId> issue_fifo_;  // requests with queued H2D copies, oldest plan first
  std::vector<Writeback> writebacks_;  // queued or in flight, in submission order
  std::vector<Draining> draining_;
  uint64_t epoch_ = 1;  // bumped by every residency change
  int64_t admissions_ = 0;
  int64_t reserved_slots_ = 0;  // Σ (kmax + 2) over admitted requests
  absl::flat_hash_map<RequestId, int64_t> reserved_by_request_;
  SchedulerStats stats_;

  // Planning scratch: PlanCycle is const but reuses these buffers (single-threaded object).
  mutable Selection selection_;
  mutable std::vector<uint8_t> slot_mark_;
  mutable std::vector<PageMove> moves_;
  mutable std::vector<PageIndex> misses_;
};

}  // namespace fm::sched
