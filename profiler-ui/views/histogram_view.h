#pragma once
// Fetch-latency histogram with log bins, p50/p90/p99/max markers, an optional per-KiB
// normalisation (latency / bytes * 1024, so big and small copies compare), and in compare mode the
// baseline trace drawn over it with transparency.

#include "profiler-ui/store/range_stats.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

// Bars are at least this wide; more buckets than fit are merged (MergeBuckets).
inline constexpr float kMinBarPx = 4.0f;

// `b` (the compare trace's stats) may be null.
void DrawLatencyHistogram(ViewState& v, const RangeStats& a, const RangeStats* b);

}  // namespace fm::ui
