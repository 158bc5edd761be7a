#include "profiler-ui/views/app.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "profiler-ui/views/controls_view.h"
#include "profiler-ui/views/counters_view.h"
#include "profiler-ui/views/draw_util.h"
#include "profiler-ui/views/heatmap_view.h"
#include "profiler-ui/views/histogram_view.h"
#include "profiler-ui/views/stats_view.h"
#include "profiler-ui/views/timeline_view.h"

namespace fm::ui {
namespace {

constexpr ImGuiWindowFlags kPane = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
                                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;

void BeginPane(const char* title, ImVec2 pos, ImVec2 size, ImGuiWindowFlags extra = 0) {
  ImGui::SetNextWindowPos(pos, ImGuiCond_Always);
  ImGui::SetNextWindowSize(size, ImGuiCond_Always);
  ImGui::Begin(title, nullptr, kPane | extra);
}

void RefreshStats(ViewState& v, const AppInputs& in) {
  PreprocessTimer timer(&v.preprocess_ms);
  const Store& s = *in.store;
  const TimeRange r = StatsRange(v, s);
  const bool range_changed = !(r == v.stats_range);
  v.stats_age_s += v.fixed_delta_s;
  // A full-session range grows with every live frame; recomputing it each frame would make the
  // cost grow with the session, so new data alone refreshes the table four times a second.
  const bool data_changed = v.stats_events != s.events_kept() && (!v.live || v.stats_age_s >= 0.25f);
  const bool recompute = v.live ? data_changed || (v.selection && range_changed) : range_changed || data_changed;
  if (recompute) {
    v.stats_age_s = 0;
    v.stats = ComputeRangeStats(s, r);
    v.stats_events = s.events_kept();
  }
  if (in.compare != nullptr && (range_changed || v.compare_events != in.compare->events_kept())) {
    // The selection is in A's clock; B is compared over the same offset from its own start.
    const TimeRange rb{in.compare->first_ns() + (r.begin_ns - s.first_ns()), in.compare->first_ns() + (r.end_ns - s.first_ns())};
    v.compare_stats = ComputeRangeStats(*in.compare, v.selection ? rb : TimeRange{in.compare->first_ns(), in.compare->last_ns() + 1});
    v.compare_events = in.compare->events_kept();
  }
  v.stats_range = r;
}

void DrawTopBar(ViewState& v, const AppInputs& in) {
  const Store& s = *in.store;
  ImGui::TextUnformatted(in.source.c_str());
  ImGui::SameLine();
  ImGui::TextDisabled("%s", in.connection.c_str());
  ImGui::SameLine();
  if (!v.live && s.has_data()) {
    if (ImGui::Button(v.playing ? "Pause" : "Play")) {
      if (!v.playing && v.cursor_ns >= s.last_ns()) v.cursor_ns = s.first_ns();
      v.playing = !v.playing;
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(70);
    float speed = static_cast<float>(v.play_speed);
    if (ImGui::DragFloat("##speed", &speed, 0.05f, 0.05f, 100.0f, "x%.2f")) v.play_speed = speed;
    ImGui::SameLine();
    ImGui::SetNextItemWidth(std::max(120.0f, ImGui::GetContentRegionAvail().x - 520));
    int64_t lo = 0, hi = s.last_ns() - s.first_ns(), rel = v.cursor_ns - s.first_ns();
    if (ImGui::SliderScalar("##time", ImGuiDataType_S64, &rel, &lo, &hi, FormatNs(static_cast<double>(rel)).c_str())) {
      v.cursor_ns = s.first_ns() + rel;
    }
    ImGui::SameLine();
  }
  if (ImGui::Button("Screenshot")) v.want_screenshot = true;
  ImGui::SameLine();
  if (ImGui::Button("Export Perfetto JSON")) v.want_export = true;
  ImGui::SameLine();
  DrawDroppedBadge(s);
  if (v.show_timing) {
    ImGui::SameLine();
    ImGui::TextDisabled("cpu %.2f ms (preprocess %.2f ms)", v.frame_cpu_ms, v.preprocess_ms);
  }
  if (!v.status_line.empty()) {
    ImGui::SameLine();
    ImGui::TextUnformatted(v.status_line.c_str());
  }
}

}  // namespace

PaneLayout ComputeLayout(ImVec2 d) {
  PaneLayout l;
  const float top_h = 34, right_w = std::min(380.0f, d.x * 0.32f);
  const float left_w = d.x - right_w, body_h = d.y - top_h;
  const float heat_h = body_h * 0.30f, time_h = body_h * 0.30f, bottom_h = body_h - heat_h - time_h;
  l.top_pos = ImVec2(0, 0);
  l.top_size = ImVec2(d.x, top_h);
  l.heat_pos = ImVec2(0, top_h);
  l.heat_size = ImVec2(left_w, heat_h);
  l.time_pos = ImVec2(0, top_h + heat_h);
  l.time_size = ImVec2(left_w, time_h);
  l.hist_pos = ImVec2(0, top_h + heat_h + time_h);
  l.hist_size = ImVec2(left_w * 0.45f, bottom_h);
  l.counters_pos = ImVec2(left_w * 0.45f, top_h + heat_h + time_h);
  l.counters_size = ImVec2(left_w * 0.55f, bottom_h);
  l.stats_pos = ImVec2(left_w, top_h);
  l.stats_size = ImVec2(right_w, body_h * 0.62f);
  l.controls_pos = ImVec2(left_w, top_h + body_h * 0.62f);
  l.controls_size = ImVec2(right_w, body_h * 0.38f);
  return l;
}

TimeRange StatsRange(const ViewState& v, const Store& s) {
  if (v.selection && !v.selection->empty()) return *v.selection;
  return s.has_data() ? TimeRange{s.first_ns(), s.last_ns() + 1} : TimeRange{0, 0};
}

void AdvancePlayback(ViewState& v, const Store& s) {
  if (v.live || !v.playing || !s.has_data()) return;
  v.cursor_ns += static_cast<int64_t>(static_cast<double>(v.fixed_delta_s) * 1e9 * v.play_speed);
  if (v.cursor_ns >= s.last_ns()) {
    v.cursor_ns = s.last_ns();
    v.playing = false;
  }
}

void DrawApp(ViewState& v, const AppInputs& in) {
  const int64_t start_ns = ThreadCpuNs();
  v.preprocess_ms = 0;
  const Store& s = *in.store;
  if (v.live && s.has_data()) {
    v.cursor_ns = s.last_ns();
    if (!v.selecting && !ImGui::IsMouseDown(ImGuiMouseButton_Left)) {
      if (v.timeline_user_moved) {
        v.timeline.FollowTo(s.last_ns() + 1);
      } else {
        // Untouched, the live view shows the newest kLiveWindowNs (all of a younger session): a
        // span fitted to the first frames' few microseconds would otherwise stay that narrow.
        const int64_t span = std::min<int64_t>(s.last_ns() + 1 - s.first_ns(), kLiveWindowNs);
        v.timeline.Set(TimeRange{s.last_ns() + 1 - span, s.last_ns() + 1});
      }
    }
  }
  v.cursor_ns = s.has_data() ? std::clamp(v.cursor_ns, s.first_ns(), s.last_ns()) : 0;
  AdvancePlayback(v, s);
  RefreshStats(v, in);

  const PaneLayout l = ComputeLayout(ImGui::GetIO().DisplaySize);
  BeginPane("flashmem-ui", l.top_pos, l.top_size, ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoScrollbar);
  DrawTopBar(v, in);
  ImGui::End();
  BeginPane("Residency", l.heat_pos, l.heat_size, ImGuiWindowFlags_NoScrollbar);
  DrawHeatmap(v, s, in.texture);
  ImGui::End();
  BeginPane("Timeline", l.time_pos, l.time_size, ImGuiWindowFlags_NoScrollbar);
  DrawTimeline(v, s);
  ImGui::End();
  BeginPane("Fetch latency", l.hist_pos, l.hist_size, ImGuiWindowFlags_NoScrollbar);
  DrawLatencyHistogram(v, v.stats, in.compare ? &v.compare_stats : nullptr);
  ImGui::End();
  BeginPane("Counters", l.counters_pos, l.counters_size, ImGuiWindowFlags_NoScrollbar);
  DrawCounters(v, s);
  ImGui::End();
  BeginPane(in.compare ? "Stats (A vs B)###Stats" : "Stats###Stats", l.stats_pos, l.stats_size);
  DrawStats(v, s, in.compare != nullptr);
  ImGui::End();
  BeginPane("Controls", l.controls_pos, l.controls_size);
  DrawControls(v, s, in.control);
  ImGui::End();
  v.frame_cpu_ms = static_cast<double>(ThreadCpuNs() - start_ns) * 1e-6;
}

}  // namespace fm::ui
