#pragma once
// Everything the views remember between frames (navigation, selection, playback, control inputs)
// plus the two seams to the outside world: where heatmap pixels go (a GL texture, or nothing in
// the null-renderer tests) and where Control frames go (the live connection, or nowhere in replay).
// Views are free functions Draw*(ViewState&, const Store&) (DESIGN.md §8); only they mutate this.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "imgui.h"
#include "profiler-ui/model/time_view.h"
#include "profiler-ui/store/range_stats.h"
#include "profiler-ui/store/residency_cursor.h"
#include "profiler-ui/store/store.h"
#include "traces/control.h"

namespace fm::ui {

// Receives heatmap images. The GL implementation keeps one texture and updates it in place.
class TextureSink {
 public:
  virtual ~TextureSink() = default;
  // Uploads width x height pixels (IM_COL32 layout, row-major) and returns the texture to draw.
  virtual ImTextureID Upload(int width, int height, const uint32_t* rgba) = 0;
};

// Sends Control frames to the runtime. Not available in replay.
class ControlSink {
 public:
  virtual ~ControlSink() = default;
  virtual bool connected() const = 0;
  // Sends `m`; returns the seq of the Control frame (matched against ControlReply.control_seq).
  virtual absl::StatusOr<uint32_t> Send(const traces::ControlMessage& m) = 0;
};

// A control the user sent, tracked until the runtime replies and then applies it (a Param event
// with the same name and value after the send).
struct SentControl {
  uint32_t seq = 0;
  std::string param;  // empty for non-SetParam ops
  double value = 0;
  int64_t sent_at_ns = 0;  // store time when sent: a Param event at or after it confirms
  std::optional<absl::StatusCode> reply;
  std::string reply_message;
  std::optional<int64_t> applied_ns;
};

// What the live timeline shows until the user zooms or pans: the newest 10 s.
inline constexpr int64_t kLiveWindowNs = 10'000'000'000;

struct ViewState {
  // ---- time ----
  TimeView timeline;
  bool timeline_fitted = false;
  // The user zoomed or panned the timeline: live mode then keeps their span instead of showing the
  // newest kLiveWindowNs.
  bool timeline_user_moved = false;
  std::optional<TimeRange> selection;   // range select (right drag) that limits the statistics
  bool selecting = false;
  int64_t select_anchor_ns = 0;
  bool live = false;                    // following a runtime: the cursor tracks the newest data
  int64_t cursor_ns = 0;                // replay position: residency is drawn as of this time
  bool playing = false;
  double play_speed = 1.0;              // session seconds per wall second
  float fixed_delta_s = 1.0f / 60.0f;   // frame time used to advance playback (fixed in tests)

  // ---- heatmap ----
  uint32_t request_id = 0;
  bool heatmap_fitted = false;
  double page_begin = 0;
  double page_end = 0;
  struct Hover {
    bool valid = false;
    uint32_t page = 0;
    int layer = 0;
  } heat_hover;
  ResidencyCursor residency;
  std::vector<uint32_t> heat_rgba;
  int heat_columns = 0;

  // ---- histogram / counters ----
  bool per_kib = false;
  double link_capacity_gbps = 50.0;     // PCIe Gen5 x16 practical H2D: the reference line

  // ---- controls ----
  int tau_steps = 64;
  float threshold = 0.5f;
  int kmax_pages = 384;
  bool paused = false;
  bool controls_seeded = false;         // inputs start at the runtime's current values
  std::vector<SentControl> sent;

  // ---- compare ----
  std::string compare_name;

  // ---- stats cache (recomputed when the range or the data change) ----
  RangeStats stats;
  RangeStats compare_stats;
  TimeRange stats_range{0, 0};
  uint64_t stats_events = ~0ull;
  uint64_t compare_events = ~0ull;
  float stats_age_s = 0;                // live: new data refreshes the stats at most every 0.25 s

  // ---- frame timing (thread CPU time), for the status bar and the benchmark ----
  double preprocess_ms = 0;             // model work this frame: stats, heatmap image, decimation
  double frame_cpu_ms = 0;              // whole DrawApp
  bool show_timing = true;              // off for screenshots: timings differ run to run
  std::string status_line;
  bool want_screenshot = false;         // set by the UI, served by the shell
  bool want_export = false;
};

// The time range the statistics cover: the selection, or the whole session.
TimeRange StatsRange(const ViewState& v, const Store& s);

}  // namespace fm::ui
