#pragma once
// The whole window: a top bar (source, connection, replay slider and play/pause, screenshot and
// export buttons, the dropped badge, frame cost) over fixed panes (no docking in ImGui 1.86):
// heatmap and timeline on the left, latency histogram and counter plots below, stats and
// controls on the right. Call between ImGui::NewFrame() and ImGui::Render().

#include <string>

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

struct AppInputs {
  const Store* store = nullptr;          // required
  const Store* compare = nullptr;        // the baseline trace in compare mode
  TextureSink* texture = nullptr;        // null in the null-renderer tests
  ControlSink* control = nullptr;        // null in replay
  std::string source;                    // "replay: x.fmtrace" / "live: unix:/run/..."
  std::string connection;                // "connected", "reconnecting in 1 s", ...
};

void DrawApp(ViewState& v, const AppInputs& in);

// Where each pane goes for a display size (the screenshot tests probe pixels inside these).
struct PaneLayout {
  ImVec2 top_pos, top_size, heat_pos, heat_size, time_pos, time_size, hist_pos, hist_size;
  ImVec2 counters_pos, counters_size, stats_pos, stats_size, controls_pos, controls_size;
};
PaneLayout ComputeLayout(ImVec2 display);

// Advances replay playback by one fixed frame (v.fixed_delta_s * v.play_speed of session time),
// stopping at the end. No-op when live or paused.
void AdvancePlayback(ViewState& v, const Store& s);

}  // namespace fm::ui
