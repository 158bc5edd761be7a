#pragma once
// Counter plots on the timeline's time axis: tok/s, TPOT (boundary vs other steps), coverage,
// link bytes/s against the link capacity, hot-pool occupancy and stall fraction. Each plot is
// min/max-decimated to one column per pixel (decimate.h), so a spike survives any zoom level.

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

void DrawCounters(ViewState& v, const Store& s);

}  // namespace fm::ui
