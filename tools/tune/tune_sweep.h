#pragma once
// `flashmem tune`: replays a recorded trace (tune_trace.h) through the scheduler's Level-1
// policy (scheduler/selection_policy.h: ComputePageDensity + SelectPages, the code the runtime
// runs) for a grid of τ, threshold, KMAX and recency tail, and scores each setting.
//
// Replay model, per request: at every step b with b % τ == 0 that has a Scores snapshot, the
// policy selects pages; that selection plus the decode tail page and its spare (always in the
// table, DESIGN.md §2.2) is the resident set for steps [b, b + τ). A Level-2 pick is covered
// when its page is resident. Pages moved at a boundary are the selected pages that were not
// selected at the previous boundary (the first boundary's fill is reported apart; LRU hits on
// cached slots are not credited, so moves are an upper bound).

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/tune/tune_trace.h"

namespace fm::tune {

struct TuneSetting {
  int32_t tau_steps = 64;
  double threshold = 0.5;
  int32_t kmax_pages = 0;  // 0 = DefaultKmaxPages at the boundary's context
  int64_t tail_chunks = 2048;
};

struct TuneGrid {
  std::vector<int32_t> taus = {32, 64, 128, 256};
  std::vector<double> thresholds = {0.3, 0.4, 0.5, 0.6, 0.7};
  std::vector<int32_t> kmaxes = {64, 96, 128, 192, 256};
  std::vector<int64_t> tails = {2048};
  size_t size() const { return taus.size() * thresholds.size() * kmaxes.size() * tails.size(); }
};

// How copies turn into stalls: a boundary's bytes must land within Δ steps of TPOT.
struct LinkModel {
  double link_gbps = 50.0;
  double tpot_ms = 50.0;
  int32_t publish_delay_steps = 8;
  double headroom = 0.25;  // hot-pool sizing (DESIGN.md §2.2)
};

struct TuneResult {
  TuneSetting setting;
  int64_t picks = 0;
  int64_t covered = 0;
  double coverage = 0;         // covered / picks
  int64_t cycles = 0;          // boundaries replayed, all requests
  double pages_per_cycle = 0;  // moved, per request-cycle, after the first boundary
  double bytes_per_cycle = 0;
  double bytes_per_step = 0;      // moved bytes of all requests per decode step
  double initial_fill_bytes = 0;  // first boundary's pages, all requests
  double stall_ms_per_step = 0;   // predicted, averaged over replayed steps
  double max_stall_ms = 0;        // worst boundary
  int64_t hot_pool_bytes = 0;     // Σ_r ceil((kmax_r + 2) * (1 + headroom)) slots
  bool pareto = false;            // on the coverage-vs-bytes frontier
};

// InvalidArgument naming the grid field when a value is out of range or τ is not a multiple of
// the trace's score interval; FailedPrecondition naming request and step when a boundary the
// replay needs has no snapshot.
absl::Status ValidateGrid(const TuneTrace& trace, const TuneGrid& grid, const LinkModel& link);

// Replays every setting of the grid (τ-major order). Errors as ValidateGrid, or from the policy.
absl::StatusOr<std::vector<TuneResult>> RunSweep(const TuneTrace& trace, const TuneGrid& grid,
                                                 const LinkModel& link);

// Sets `pareto` on the settings no other setting beats on both coverage (higher) and
// bytes_per_step (lower).
void MarkPareto(std::vector<TuneResult>* results);

// The cheapest setting reaching `target_coverage`: least predicted stall, then smallest hot pool
// (the GPU memory LSA saves), then least bytes per step, then largest τ (fewer planner runs).
// nullopt when none reaches it.
std::optional<size_t> Recommend(const std::vector<TuneResult>& results, double target_coverage);

}  // namespace fm::tune
