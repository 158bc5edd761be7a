#pragma once
// Statistics over a time range of the store (the whole session, or the range selected on the
// timeline): throughput, TPOT split by τ-boundary, fetch latency percentiles (absolute and per
// KiB), link rate, coverage and stall fraction. Also the delta table of the compare mode.

#include <cstdint>
#include <string>
#include <vector>

#include "profiler-ui/model/log_histogram.h"
#include "profiler-ui/model/time_view.h"
#include "profiler-ui/store/store.h"

namespace fm::ui {

struct RangeStats {
  TimeRange range;
  uint64_t steps = 0;
  uint64_t tokens = 0;
  double tokens_per_s = 0;
  double tpot_boundary_ms = 0;  // mean duration of boundary steps
  double tpot_other_ms = 0;     // mean duration of the other steps
  uint64_t boundary_steps = 0;
  uint64_t fetches = 0;         // copies whose GPU start lies in the range
  uint64_t fetch_bytes = 0;
  LogHistogram latency_ns;      // issue -> landed, per copy
  LogHistogram ns_per_kib;      // latency / (bytes / 1024), per copy with bytes > 0
  double link_bytes_per_s = 0;  // fetch_bytes / range span
  double coverage = -1;         // hit rate of Level-2 picks in the range; -1 when unknown
  double stall_fraction = 0;    // publish stall time / range span
  uint64_t publishes = 0;
};

// Stats of `store` restricted to `range` (each record counted by its own time: a step by its end,
// a copy by its GPU start, a publish by its flip). An empty range gives zeroed stats.
RangeStats ComputeRangeStats(const Store& store, TimeRange range);

// One row of the stats table: a name, a value for A (and B in compare mode) and its formatting.
struct StatRow {
  std::string name;
  double a = 0;
  double b = 0;          // compare mode only
  const char* unit = "";
};
std::vector<StatRow> StatRows(const RangeStats& a, const RangeStats* b);

// Relative change b vs a in percent; 0 when a is 0 and b is 0, +inf-free (returns 0 when a == 0).
double DeltaPercent(double a, double b);

}  // namespace fm::ui
