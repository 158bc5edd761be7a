#pragma once
// `flashmem bench decode`: the GPU decode step (runtime/backend/cuda/gpu_decode.h) of a checkpoint
// (--model: a flash-slice or a small synthetic one) at given context lengths, in two modes measured
// in the same run: all-resident (Level 2 over every c4 chunk of the device store) and LSA (Level 2
// restricted to KMAX resident pages read through the LUT from the hot pool, a τ-cycle that stages
// the churned pages from a pinned cold pool on the h2d stream and publishes them Δ steps later).
// Reports TPOT for both and their ratio, p99/p50 of step intervals (boundary spikes), the publish
// stall fraction and the host syncs per step (issue 8 goals: TPOT lsa/all-resident <= 1.05,
// boundary p99/p50 <= 1.15, 0 GPU->host syncs per step). Built into every `flashmem`; without CUDA
// (or without a device) it reports a skip.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace fm::bench {

struct DecodeBenchOptions {
  std::string model;  // checkpoint directory (required)
  std::vector<int64_t> contexts = {8192};
  int64_t steps = 256;  // timed steps per mode (after a warm-up)
  int64_t batch = 1;
  int64_t tau = 64;            // cycle length (steps)
  int64_t delta = 8;           // publish delay (steps)
  double kmax_fraction = 0.5;  // resident pages / context pages in LSA mode
  double churn = 0.25;         // fraction of KMAX replaced per cycle
};

// One timed step as the executor measured it.
struct DecodeStepSample {
  double interval_ms = 0;  // end of the previous step -> end of this one
  double stall_ms = 0;     // compute stream waiting for the copy event + LUT write
  bool boundary = false;   // a publish happened in this step
};

// The LSA τ-cycle of one request row in the bench (DESIGN.md §5, simplified: the planner's choice
// is random, the mechanism is real). Generation 0 holds the newest `kmax` context pages; each
// boundary replaces `churn` resident pages (never the tail page) by as many absent ones, staged
// into free slots; the publish Δ steps later makes that table live and only then frees the
// evicted pages' slots (a later stage waits on the publish: invariant 3).
class BenchLsaCycle {
 public:
  // Slots [slot_base, slot_base + kmax + churn + 2) belong to this row; the table has
  // `table_pages` entries (>= ctx_pages), -1 for pages without a slot.
  BenchLsaCycle(int64_t ctx_pages, int64_t table_pages, int64_t kmax, int64_t churn,
                int32_t slot_base, uint64_t seed);
  static int64_t SlotsNeeded(int64_t kmax, int64_t churn) { return kmax + churn + 2; }

  const std::vector<int32_t>& live() const { return live_; }
  const std::vector<int32_t>& pending() const { return pending_; }
  bool has_pending() const { return !pending_.empty(); }
  // Boundary: builds the next table; returns the (page, slot) pairs to stage. Nothing while a
  // generation is still unpublished (a cycle overrun).
  std::vector<std::pair<int32_t, int32_t>> Boundary();
  // Publish: the pending table becomes live, the evicted slots free. False when none is pending.
  bool Publish();

 private:
  int64_t ctx_pages_, churn_;
  std::vector<int32_t> live_, pending_, free_slots_, pending_freed_;
  uint64_t rng_state_;
  uint64_t Next();
};

// Empty when the decode suite can run here; otherwise why not.
std::string DecodeSkipReason();

// tpot_ms (mean interval), p50_ms, p99_ms, p99_over_p50, boundary_p50_ms (publish steps; 0 when
// none), stall_fraction (sum of stalls / sum of intervals), n_steps. The first sample (no
// interval) is left out.
nlohmann::json SummarizeDecodeSamples(const std::vector<DecodeStepSample>& samples);

// Runs both modes at every context; the JSON document of `flashmem bench decode`.
absl::StatusOr<nlohmann::json> RunDecodeBench(const DecodeBenchOptions& options);

}  // namespace fm::bench
