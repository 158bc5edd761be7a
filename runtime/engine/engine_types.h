#pragma once
// Configuration, per-step records and counters of the decode engine (runtime/engine/engine.h).

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/scheduler_types.h"
#include "scheduler/sim_link.h"

namespace fm::rt {

// How the pages of each request are chosen at a cycle boundary (issue 5: compared in one binary).
enum class SelectionMode : uint8_t {
  kFull = 0,     // every chunk resident, no scheduler: the baseline
  kLsa = 1,      // Level-1 memory indexer densities (spec §5.2)
  kRecency = 2,  // zero densities: the forced tail, then the most recent pages
  kRandom = 3,   // uniformly random densities (seeded)
  kOracle = 4,   // densities from the true Level-2 picks of the steps the table will serve, taken
                 // from a full run (EngineConfig: oracle)
};

// "full" | "lsa" | "recency" | "random" | "oracle"; InvalidArgument otherwise.
absl::StatusOr<SelectionMode> ParseSelectionMode(std::string_view text);
std::string_view SelectionModeName(SelectionMode mode);

struct EngineConfig {
  SelectionMode mode = SelectionMode::kLsa;
  sched::SchedulerParams params;  // τ, Δ, policy (threshold, KMAX, tail), byte budget
  int32_t chunks_per_page = 64;   // page geometry (tokens_per_chunk is the CSA ratio, 4)
  sched::SimLinkConfig link;
  int32_t max_requests = 4;
  int64_t max_context_tokens = 8192;  // prompt + decode per request; sizes the cold pool
  int32_t kmax_max_pages = 384;       // hot-pool table width; clamped to a request's page count
  double headroom = 0.25;             // admission headroom of the shared reserve
  int64_t prefill_chunk_tokens = 512;
  // Coverage of Level-2 picks: runs a full-attention shadow sequence per request, fed the
  // request's own tokens (twice the decode cost); its unrestricted picks are what the resident
  // set should have held. Ignored in full mode.
  bool measure_coverage = false;
  // Oracle mode (issue 5: "the true Level-2 picks of the next τ steps, from a full run"): each
  // request gets a run-ahead twin (runtime/engine/engine_oracle.h), a full-attention sequence
  // with the same prompt or synthetic context and seed that decodes its own greedy tokens τ + Δ
  // steps ahead and records, per step, the union over the CSA layers of its Level-2 picks. A
  // cycle planned at step b is published at b + Δ and serves until the next publish at
  // b + τ + Δ, so its page densities count the picks of steps [b + Δ, b + τ + Δ) (a table
  // published at once, at admission or a forced publish, from the current step). Those are the
  // picks a scheduler would need to predict; a slip or a token where the restricted request
  // departs from the full run makes the oracle approximate, as any real selection. The twin
  // costs one more decode per step and keeps at most τ + Δ + 1 steps of picks; the coverage
  // shadow stays separate (it follows the request's tokens, the twin its own).

  // Records what `flashmem tune` replays (engine_record.cc) into the trace session given to
  // Engine::SetTraceSession: a Scores frame per Level-1 boundary, a Labels frame (the shadow's
  // unrestricted Level-2 picks) per decode step. Only in lsa mode, the one mode with Level-1
  // probabilities; forces the shadow on.
  bool record_scores = false;
  // On a virtual clock, the modelled duration of one decode step: the clock moves forward by it
  // after each step, so copies land in the background as they would beside a GPU step.
  int64_t virtual_step_ns = 1'000'000;
  uint64_t seed = 1;  // random mode
};

// One Step() (all active requests).
struct StepRecord {
  int64_t step = 0;
  bool boundary = false;        // some request ran a Level-1 cycle at this step
  int32_t rows = 0;             // requests decoded
  int64_t wall_ns = 0;          // measured on the host clock
  int64_t stall_ns = 0;         // publish waits for copies not yet landed (link clock)
  int64_t h2d_bytes = 0;        // prefetch bytes submitted at this step
  int64_t picks = 0;            // Level-2 picks of the shadow (coverage runs)
  int64_t picks_resident = 0;   // ... of which the resident set held
  int32_t finished = 0;         // requests that left after this step
};

struct EngineStats {
  int64_t steps = 0;
  int64_t tokens = 0;
  int64_t cycles = 0;            // Level-1 cycles planned (admission included)
  int64_t cycle_h2d_bytes = 0;   // Σ plan.h2d_bytes (bytes moved per cycle = this / cycles)
  int64_t evictions = 0;
  int64_t stall_ns = 0;
  int64_t wall_ns = 0;
  int64_t picks = 0;
  int64_t picks_resident = 0;
  int64_t forced_publishes = 0;  // decode outran the live table (DESIGN §5 LiveCovers path)
  int64_t exhausted_retries = 0; // PlanCycle found no slot; retried at the next step
  int64_t bytes_verified = 0;    // hot-cell bytes compared with the model's entries at publishes
};

}  // namespace fm::rt
