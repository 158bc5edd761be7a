#pragma once
// `flashmem trace synth`: a realistic, deterministic synthetic .fmtrace for UI work and tests. It
// plays a virtual decode run: steps with TPOT jitter and zones on engine/planner threads and GPU
// streams, a tau-cycle per request (staggered phases) with selection, coalesced H2D copies at a
// PCIe-like rate, page state changes, publishes with occasional stalls, periodic snapshots with
// residency and latency histograms, standard counters, a few Param changes and some drops.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fm::traces {

struct SynthOptions {
  std::string out_path;
  uint32_t requests = 2;
  uint32_t pages = 4096;       // logical pages per request (context = pages * 256 tokens)
  uint32_t layers = 21;        // CSA layers (Level-2 use counts per page in keyframe snapshots)
  uint64_t steps = 2000;
  uint32_t tau_steps = 64;
  uint32_t delta_steps = 8;
  uint32_t kmax_pages = 384;
  int64_t tpot_ns = 20'000'000;  // mean step time
  int64_t snapshot_period_ns = 100'000'000;
  uint64_t seed = 1;
  // InvalidArgument naming the field when a value is out of range.
  absl::Status Validate() const;
};

struct SynthSummary {
  uint64_t frames = 0;
  uint64_t events = 0;
  uint64_t copies = 0;
  uint64_t snapshots = 0;
  uint64_t dropped_records = 0;  // announced by Dropped events
  uint64_t bytes = 0;
};

absl::StatusOr<SynthSummary> WriteSynthTrace(const SynthOptions& options);

}  // namespace fm::traces
