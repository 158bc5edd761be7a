#pragma once
// Stats table for the selected range (or the whole session), with the compare trace's values and
// deltas when one is loaded, and the dropped-events badge: red when the runtime dropped events,
// frames went missing (seq gaps), the store hit its limits or a frame failed to decode.

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

// Total losses the badge reports; 0 means the badge is not drawn.
uint64_t DroppedTotal(const Store& s);
// Draws the badge inline (a red framed text) when DroppedTotal > 0.
void DrawDroppedBadge(const Store& s);

void DrawStats(ViewState& v, const Store& s, bool have_compare);

}  // namespace fm::ui
