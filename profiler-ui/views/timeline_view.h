#pragma once
// Timeline: decode steps, τ-cycle boundaries (Select events), thread and GPU-stream lanes with
// zones and fetch slices, Tracy navigation: wheel zooms at the cursor, left drag pans, right drag
// selects the range that limits the statistics (a right click without drag clears it), Ctrl+left
// click moves the replay cursor. Slices narrower than 3 px fold into one grey run with a count.

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

inline constexpr float kLaneHeightPx = 18.0f;
inline constexpr float kMinSlicePx = 3.0f;

void DrawTimeline(ViewState& v, const Store& s);

// Shared by the counter plots: wheel/drag/right-drag on any time canvas navigate the one timeline.
// `x0` and `width` are the canvas's left edge and width in screen pixels.
void HandleTimeNavigation(ViewState& v, bool hovered, bool active, float x0, float width);

}  // namespace fm::ui
