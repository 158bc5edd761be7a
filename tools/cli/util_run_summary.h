#pragma once
// The summary of `flashmem run` (issue 5): throughput, TPOT percentiles split by boundary and
// other steps, Level-2 coverage, bytes per cycle, stall fraction, evictions, hot pool vs full KV.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine/engine.h"

namespace fm::cli {

struct RunSummary {
  std::string mode;
  int64_t steps = 0, tokens = 0;
  double wall_s = 0, tok_per_s = 0;
  double tpot_boundary_p50_ms = 0, tpot_boundary_p99_ms = 0;  // steps with a Level-1 cycle
  double tpot_other_p50_ms = 0, tpot_other_p99_ms = 0;
  int64_t boundary_steps = 0;
  bool full_mode = false;
  bool coverage_measured = false;
  double coverage = 0;  // resident Level-2 picks / picks of the unrestricted shadow
  int64_t cycles = 0;
  double bytes_per_cycle = 0;
  int64_t h2d_bytes = 0, d2h_bytes = 0;
  double stall_fraction = 0;  // publish waits / step wall time
  int64_t evictions = 0, publish_slips = 0, cycle_overruns = 0, forced_publishes = 0;
  int64_t hot_pool_bytes = 0, full_kv_bytes = 0;  // full KV: peak over the run
};

// Percentile `q` in [0, 1] of `v` (nearest rank); 0 for an empty vector.
double Percentile(std::vector<int64_t> v, double q);

RunSummary Summarize(const rt::Engine& engine, const std::vector<rt::StepRecord>& steps,
                     int64_t peak_full_kv_bytes);
std::string FormatSummary(const RunSummary& s);
nlohmann::json SummaryToJson(const RunSummary& s);

}  // namespace fm::cli
