#pragma once
// The decode engine on the CPU backend (issue 5, DESIGN.md §2.2, §3-§6): batched multi-request
// decode through the CPU reference model, with LSA residency run by the Scheduler and a SimLink
// copy engine that really moves page bytes between a cold pool (host) and a hot pool (reserve
// slots). One thread drives everything (the engine thread is also the planner thread).
//
// One Step(), for every active request in admission order:
//   boundary?  selection density (mode) -> PlanCycle -> ApplyCycle
//   IssueCopies(step)                      (byte-budgeted, all requests)
//   PublishDue -> wait tickets only if not landed (counted as stall) -> OnFlipped
//   Level 2 restricted to the LIVE table's pages (one cycle stale; tail + spare included)
//   Decode one token (greedy), reading the picked CSA entries from the hot pool through the
//   live table; copy the new c4 chunk's entries into its hot cell
//
// Page bytes: the real compressed KV entries of every CSA layer (Model::CompressedEntryBytes()
// each, the store's format) in the DESIGN §2.1 slot layout (one KV block per CSA layer, page-
// major; index keys stay with the model). Admission copies the prompt's entries into the cold
// pool; the scheduler's copies move them between the pools from then on.
// Every publish compares each resident chunk's cell bytes with the model's stored entries, so a
// lost, misplaced or stale copy is an Internal error rather than silent.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/engine/engine_types.h"
#include "runtime/engine/trace_session.h"
#include "runtime/lsa/level1.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/model/model.h"
#include "scheduler/scheduler.h"
#include "scheduler/sim_clock.h"
#include "scheduler/sim_link.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"

namespace fm::rt {

class Engine {
 public:
  // `model`, `indexer` (may be null unless mode is kLsa) and `clock` must outlive the engine.
  // InvalidArgument naming the field for a bad config.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const Model* model,
                                                        MemoryIndexer* indexer,
                                                        const EngineConfig& config,
                                                        sched::Clock* clock);
  ~Engine();

  // Adds a request: prefills `prompt` (chunks of prefill_chunk_tokens) or, when prompt is empty,
  // fills a synthetic context of `synthetic_tokens` tokens; then admits it to the scheduler and
  // publishes generation 0. It decodes `decode_tokens` tokens, then leaves. Unavailable when the
  // scheduler has no room now (retry after a request left); InvalidArgument when the context plus
  // decode exceeds max_context_tokens.
  absl::StatusOr<uint32_t> AddRequest(absl::Span<const int32_t> prompt, int64_t synthetic_tokens,
                                      int64_t decode_tokens, uint64_t seed);

  // Decodes one token for every active request; requests that finished are released (their
  // slots and cold pages return). Returns the per-step record.
  absl::StatusOr<StepRecord> Step();

  int32_t active_requests() const { return static_cast<int32_t>(requests_.size()); }
  // Tokens decoded so far by request `id` (including finished ones), in order.
  const std::vector<int32_t>* Generated(uint32_t id) const;
  // The logits of the last decode of each request, by id (kept after it finishes).
  const std::vector<float>* LastLogits(uint32_t id) const;

  const EngineStats& stats() const { return stats_; }
  const EngineConfig& config() const { return config_; }
  const sched::GeometryConfig& geometry() const { return geometry_; }
  // The scheduler (null in full mode).
  const sched::Scheduler* scheduler() const { return scheduler_.get(); }
  int64_t hot_pool_bytes() const { return static_cast<int64_t>(hot_.size()); }
  // Tests only: the hot pool's bytes (to poison a cell).
  absl::Span<std::byte> hot_pool_for_testing() { return absl::MakeSpan(hot_); }
  // Bytes of every CSA page of every active request in the cold pool (what full mode keeps hot).
  int64_t full_kv_bytes() const;
  // The model and pool summary for a trace file's Hello (program, geometry, pool sizes).
  traces::Hello TraceHello() const;
  // Where config().record_scores writes its Scores and Labels frames; null (the default) records
  // nothing. `session` must outlive the engine or be reset to null before it stops.
  void SetTraceSession(TraceSession* session) { session_ = session; }

  // --- Live control (engine_live.cc; DESIGN.md §5 "Live changes", §7 Snapshot) ---
  // Steps done so far (the index of the next Step).
  int64_t step() const { return step_; }
  // Ids of the active requests, in admission order.
  std::vector<uint32_t> RequestIds() const;
  // Sets one run-time knob by its Control SetParam name (traces/control.h: tau, delta, threshold,
  // kmax, tail in pages) for every request (nullopt: the global knobs and every per-request
  // override) or for one request. Validated now against the scheduler's limits; applied at each
  // request's next cycle boundary, by the scheduler's plan and the Level-1 pass alike.
  // FailedPrecondition in full mode (no scheduler); NotFound for a request that is not active;
  // InvalidArgument naming the knob, the value and the violated bound otherwise.
  absl::Status SetKnob(std::string_view name, double value, std::optional<uint32_t> request);
  // The knobs the next cycle of `request` will apply: its override, else the global ones.
  sched::SchedulerParams NextParams(std::optional<uint32_t> request) const;
  // Called on the engine thread with the knobs of every cycle applied (admission included,
  // overruns not), inside AddRequest and Step. An empty function removes the observer.
  using CycleObserver = std::function<void(uint32_t request, const sched::SchedulerParams&)>;
  void SetCycleObserver(CycleObserver observer) { cycle_observer_ = std::move(observer); }
  // The Level-1 options in use (lsa mode), null otherwise.
  const Level1Options* level1_options() const { return level1_ ? &level1_->options() : nullptr; }
  // The current state as a Snapshot (no id or time): pools, the global knobs, the active
  // requests and one page state per page of each.
  traces::Snapshot LiveSnapshot() const;

 private:
  struct Request;
  Engine(const Model* model, MemoryIndexer* indexer, const EngineConfig& config,
         sched::Clock* clock);
  absl::Status Init();
  int64_t ChunkCount(const Sequence& seq) const;
  // Page densities of the mode for a table first serving the request's decode step
  // `first_served` (engine steps; oracle mode counts the picks of the steps the table serves).
  absl::Status Density(Request& r, int64_t first_served, std::vector<uint8_t>* density);
  absl::Status Boundary(Request& r, StepRecord* rec);
  absl::Status Publish(Request& r, const sched::PublishDecision& d, StepRecord* rec);
  absl::Status EnsureLiveCovers(Request& r, StepRecord* rec);
  void ApplyLiveTable(Request& r);
  absl::Status DecodeOne(Request& r, StepRecord* rec);
  absl::Status VerifyLiveBytes(const Request& r);
  absl::Status Release(Request& r);
  void RecordPlan(const sched::CyclePlan& plan, StepRecord* rec);
  absl::Status FillColdPage(const Request& r, int64_t page, int64_t n_chunks);
  absl::Status WriteHotChunk(const Request& r, int64_t chunk, sched::CellIndex cell);
  // Telemetry (engine_telemetry.cc): CopyDone for landed prefetch batches, standard counters.
  void EmitCompletions();
  void EmitCounters();
  // CopyIssue for an unbudgeted submit (admission, forced publish), tracked for its CopyDone.
  void EmitIssued(sched::CopyTicket ticket, int64_t bytes);
  // Recording for `flashmem tune` (engine_record.cc); no-ops unless record_scores and a session.
  // Scores of the Level-1 cycle computed at this step (none when Level 1 did not run).
  void RecordScores(const Request& r);
  // The shadow's unrestricted Level-2 picks of the decode just done, one row per CSA layer.
  absl::Status RecordLabels(const Request& r);
  // Before a Level-1 pass, the Level-1 policy follows the request's NextParams (engine_live.cc).
  absl::Status UseLevel1PolicyOf(const Request& r);

  const Model* model_;
  MemoryIndexer* indexer_;
  EngineConfig config_;
  sched::Clock* clock_;
  TraceSession* session_ = nullptr;
  sched::GeometryConfig geometry_;
  std::vector<int64_t> csa_layers_;
  int64_t cold_pages_per_row_ = 0;
  std::vector<std::byte> cold_;
  std::vector<std::byte> hot_;
  std::unique_ptr<sched::SimLink> link_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  std::optional<Level1> level1_;
  std::vector<std::unique_ptr<Request>> requests_;  // active, admission order
  std::vector<uint8_t> row_used_;
  uint32_t next_id_ = 1;
  int64_t step_ = 0;
  EngineStats stats_;
  struct Finished {
    uint32_t id;
    std::vector<int32_t> tokens;
    std::vector<float> logits;
  };
  std::vector<Finished> finished_;
  struct InFlight {
    sched::CopyTicket ticket;
    int64_t issue_ns;       // session time of the submit (the CopyDone start)
    int64_t issue_link_ns;  // link-clock time of the submit
    int64_t done_link_ns;   // modelled landing time (SimLink forgets it once landed)
  };
  std::vector<InFlight> inflight_;  // submitted H2D batches whose CopyDone is not emitted yet
  // Knobs set at run time (engine_live.cc): the scheduler's copy, kept here because the Level-1
  // pass (engine-wide) needs each request's pending policy before the scheduler plans with it.
  std::optional<sched::SchedulerParams> live_params_;  // global, once changed
  absl::flat_hash_map<uint32_t, sched::SchedulerParams> live_overrides_;  // per request
  CycleObserver cycle_observer_;
  traces::LatencyHistograms fetch_latency_;  // submit -> landed per H2D batch (LiveSnapshot)
};

}  // namespace fm::rt
