#include "profiler-ui/views/timeline_view.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "profiler-ui/model/decimate.h"
#include "profiler-ui/views/draw_util.h"

namespace fm::ui {
namespace {

constexpr ImU32 kBackground = IM_COL32(24, 26, 32, 255);
constexpr ImU32 kLaneLabel = IM_COL32(200, 200, 210, 255);
constexpr ImU32 kFold = IM_COL32(120, 120, 130, 255);
constexpr ImU32 kCycleLine = IM_COL32(255, 140, 60, 140);
constexpr ImU32 kStepTick = IM_COL32(120, 170, 255, 255);
constexpr ImU32 kBoundaryTick = IM_COL32(255, 110, 70, 255);
constexpr ImU32 kSelection = IM_COL32(90, 150, 255, 50);
constexpr ImU32 kCursor = IM_COL32(255, 255, 255, 200);
constexpr ImU32 kParamMark = IM_COL32(80, 230, 120, 255);

// Draws slices [start, start+dur) of one lane at row y, folding runs of sub-3-px slices. Returns
// the index of the hovered slice (or -1) for the tooltip.
template <typename NameFn, typename ColorFn>
long DrawSlices(const Canvas& c, const TimeView& tv, float y, const std::vector<int64_t>& start,
                const std::vector<int64_t>& dur, int64_t max_dur, NameFn name_of, ColorFn color_of,
                ImVec2 mouse) {
  const TimeRange r = tv.range();
  const float w = c.width();
  const size_t first = static_cast<size_t>(
      std::lower_bound(start.begin(), start.end(), r.begin_ns - max_dur) - start.begin());
  const size_t last = static_cast<size_t>(std::lower_bound(start.begin(), start.end(), r.end_ns) - start.begin());
  long hovered = -1;
  float fold_x0 = 0, fold_x1 = -1e9f;
  int fold_count = 0;
  auto flush_fold = [&] {
    if (fold_count == 0) return;
    c.dl->AddRectFilled(ImVec2(c.p0.x + fold_x0, y + 2), ImVec2(c.p0.x + std::max(fold_x1, fold_x0 + 1), y + kLaneHeightPx - 2), kFold);
    fold_count = 0;
  };
  for (size_t i = first; i < last; ++i) {
    if (start[i] + dur[i] < r.begin_ns) continue;
    const float x0 = static_cast<float>(tv.PixelOf(static_cast<double>(start[i]), w));
    const float x1 = static_cast<float>(tv.PixelOf(static_cast<double>(start[i] + dur[i]), w));
    if (mouse.y >= y && mouse.y < y + kLaneHeightPx && mouse.x >= c.p0.x + x0 - 1 && mouse.x <= c.p0.x + std::max(x1, x0 + 1)) {
      hovered = static_cast<long>(i);
    }
    if (x1 - x0 < kMinSlicePx) {
      if (fold_count > 0 && x0 - fold_x1 < kMinSlicePx) {
        fold_x1 = std::max(fold_x1, x1);
        ++fold_count;
      } else {
        flush_fold();
        fold_x0 = x0;
        fold_x1 = x1;
        fold_count = 1;
      }
      continue;
    }
    flush_fold();
    const ImVec2 a(c.p0.x + x0, y + 1), b(c.p0.x + x1, y + kLaneHeightPx - 1);
    c.dl->AddRectFilled(a, b, color_of(i));
    const std::string label = name_of(i);
    const float text_w = ImGui::CalcTextSize(label.c_str()).x;
    if (x1 - x0 > text_w + 4) {
      c.dl->AddText(ImVec2(a.x + 2, a.y + 1), IM_COL32(15, 15, 20, 255), label.c_str());
    }
  }
  flush_fold();
  return hovered;
}

}  // namespace

void HandleTimeNavigation(ViewState& v, bool hovered, bool active, float x0, float width) {
  ImGuiIO& io = ImGui::GetIO();
  const float mx = io.MousePos.x - x0;
  if (hovered && io.MouseWheel != 0) {
    v.timeline.ZoomAt(mx, width, io.MouseWheel);
    v.timeline_user_moved = true;
  }
  if (active && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.0f) && !io.KeyCtrl) {
    v.timeline.PanPixels(io.MouseDelta.x, width);
    v.timeline_user_moved = v.timeline_user_moved || io.MouseDelta.x != 0;
  }
  const int64_t t_mouse = static_cast<int64_t>(std::llround(v.timeline.TimeAt(mx, width)));
  if (hovered && ImGui::IsMouseClicked(ImGuiMouseButton_Right)) {
    v.selecting = true;
    v.select_anchor_ns = t_mouse;
  }
  if (v.selecting) {
    if (ImGui::IsMouseDown(ImGuiMouseButton_Right)) {
      const TimeRange sel = RangeBetween(v.select_anchor_ns, t_mouse);
      if (!sel.empty()) v.selection = sel;
    } else {
      // A right click that never moved clears the selection.
      if (v.select_anchor_ns == t_mouse) v.selection.reset();
      v.selecting = false;
    }
  }
  if (hovered && io.KeyCtrl && ImGui::IsMouseClicked(ImGuiMouseButton_Left) && !v.live) {
    v.cursor_ns = t_mouse;
  }
}

void DrawTimeline(ViewState& v, const Store& s) {
  if (!v.timeline_fitted && s.has_data()) {
    v.timeline.Set(TimeRange{s.first_ns(), s.last_ns() + 1});
    v.timeline_fitted = true;
  }
  const Canvas c = Canvas::Begin("timeline", ImVec2(0, 0), kBackground);
  const float w = c.width();
  const TimeView& tv = v.timeline;
  const TimeRange r = tv.range();
  const ImVec2 mouse = ImGui::GetIO().MousePos;

  // Ruler: about one label per 120 px at a 1-2-5 step.
  const double ns_per_px = static_cast<double>(r.span_ns()) / std::max(w, 1.0f);
  double step = std::pow(10.0, std::floor(std::log10(ns_per_px * 120)));
  if (step * 5 < ns_per_px * 120) step *= 5; else if (step * 2 < ns_per_px * 120) step *= 2;
  const double first_tick = std::ceil(static_cast<double>(r.begin_ns) / step) * step;
  for (double t = first_tick; t < static_cast<double>(r.end_ns); t += step) {
    const float x = c.p0.x + static_cast<float>(tv.PixelOf(t, w));
    c.dl->AddLine(ImVec2(x, c.p0.y), ImVec2(x, c.p1.y), IM_COL32(60, 62, 70, 255));
    c.dl->AddText(ImVec2(x + 2, c.p0.y), IM_COL32(150, 150, 160, 255), FormatNs(t - static_cast<double>(s.first_ns())).c_str());
  }

  float y = c.p0.y + 16;
  std::string tooltip;
  // Steps lane: one tick per step (ticks closer than 3 px merge), boundaries in orange.
  {
    c.dl->AddText(ImVec2(c.p0.x + 2, y + 2), kLaneLabel, "steps");
    const std::vector<StepRec>& steps = s.steps();
    auto it = std::lower_bound(steps.begin(), steps.end(), r.begin_ns, [](const StepRec& a, int64_t t) { return a.t_ns < t; });
    float last_x = -1e9f;
    for (; it != steps.end() && it->t_ns < r.end_ns; ++it) {
      const float x = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(it->t_ns), w));
      if (x - last_x < kMinSlicePx && !it->boundary) continue;
      last_x = x;
      c.dl->AddLine(ImVec2(x, y + 3), ImVec2(x, y + kLaneHeightPx - 3), it->boundary ? kBoundaryTick : kStepTick, it->boundary ? 2.0f : 1.0f);
      if (std::fabs(mouse.x - x) < 2 && mouse.y >= y && mouse.y < y + kLaneHeightPx) {
        tooltip = absl::StrFormat("step %d%s\nrows %d, tokens %d", it->step, it->boundary ? " (tau boundary)" : "", it->rows, it->tokens);
      }
    }
    y += kLaneHeightPx;
  }
  const float lanes_top = y;
  for (const auto& [track, lane] : s.zones()) {
    c.dl->AddLine(ImVec2(c.p0.x, y), ImVec2(c.p1.x, y), IM_COL32(45, 47, 55, 255));
    const long h = DrawSlices(
        c, tv, y, lane.start_ns, lane.dur_ns, lane.max_dur_ns,
        [&](size_t i) { return s.StringOf(lane.name[i]); }, [&](size_t i) { return NameColor(lane.name[i]); }, mouse);
    if (h >= 0) {
      const size_t i = static_cast<size_t>(h);
      tooltip = absl::StrFormat("%s\n%s, arg %d", s.StringOf(lane.name[i]), FormatNs(static_cast<double>(lane.dur_ns[i])), lane.arg[i]);
    }
    c.dl->AddText(ImVec2(c.p0.x + 2, y + 2), kLaneLabel, s.TrackName(track).c_str());
    y += kLaneHeightPx;
  }
  for (const auto& [track, lane] : s.copies()) {
    c.dl->AddLine(ImVec2(c.p0.x, y), ImVec2(c.p1.x, y), IM_COL32(45, 47, 55, 255));
    const long h = DrawSlices(
        c, tv, y, lane.start_ns, lane.dur_ns, lane.max_dur_ns, [&](size_t i) { return FormatBytes(static_cast<double>(lane.bytes[i])); },
        [&](size_t i) {
          // Fetch slices shade from green (landed quickly after issue) to red (waited >= 1 ms).
          const double wait = static_cast<double>(lane.start_ns[i] + lane.dur_ns[i] - lane.issue_ns[i]);
          const float k = static_cast<float>(std::clamp(std::log10(std::max(wait, 1e4) / 1e4) / 2.0, 0.0, 1.0));
          return IM_COL32(static_cast<int>(80 + 175 * k), static_cast<int>(210 - 130 * k), 90, 255);
        },
        mouse);
    if (h >= 0) {
      const size_t i = static_cast<size_t>(h);
      const double lat = static_cast<double>(lane.start_ns[i] + lane.dur_ns[i] - lane.issue_ns[i]);
      tooltip = absl::StrFormat("fetch %s\ncopy %s (%s)\nissue -> landed %s", FormatBytes(static_cast<double>(lane.bytes[i])),
                                FormatNs(static_cast<double>(lane.dur_ns[i])),
                                FormatRate(static_cast<double>(lane.bytes[i]) / std::max<double>(1, static_cast<double>(lane.dur_ns[i])) * 1e9),
                                FormatNs(lat));
    }
    c.dl->AddText(ImVec2(c.p0.x + 2, y + 2), kLaneLabel, (s.TrackName(track) + " (fetch)").c_str());
    y += kLaneHeightPx;
  }
  // τ-cycle boundaries across every lane.
  {
    const std::vector<SelectRec>& sel = s.selects();
    auto it = std::lower_bound(sel.begin(), sel.end(), r.begin_ns, [](const SelectRec& a, int64_t t) { return a.t_ns < t; });
    float last_x = -1e9f;
    for (; it != sel.end() && it->t_ns < r.end_ns; ++it) {
      const float x = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(it->t_ns), w));
      if (x - last_x < kMinSlicePx) continue;
      last_x = x;
      c.dl->AddLine(ImVec2(x, lanes_top - kLaneHeightPx), ImVec2(x, y), kCycleLine);
    }
  }
  // Param applied marks (the control channel's confirmation).
  for (const ParamRec& p : s.params_applied()) {
    if (!r.Contains(p.t_ns)) continue;
    const float x = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(p.t_ns), w));
    c.dl->AddTriangleFilled(ImVec2(x - 5, c.p0.y + 12), ImVec2(x + 5, c.p0.y + 12), ImVec2(x, c.p0.y + 20), kParamMark);
    if (std::fabs(mouse.x - x) < 5 && mouse.y < c.p0.y + 22 && mouse.y >= c.p0.y) {
      tooltip = absl::StrFormat("%s = %g applied", p.name, p.value);
    }
  }
  if (v.selection) {
    const float x0 = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(v.selection->begin_ns), w));
    const float x1 = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(v.selection->end_ns), w));
    c.dl->AddRectFilled(ImVec2(x0, c.p0.y), ImVec2(x1, c.p1.y), kSelection);
  }
  if (!v.live) {
    const float x = c.p0.x + static_cast<float>(tv.PixelOf(static_cast<double>(v.cursor_ns), w));
    c.dl->AddLine(ImVec2(x, c.p0.y), ImVec2(x, c.p1.y), kCursor, 1.5f);
  }
  c.End();
  HandleTimeNavigation(v, c.hovered, c.active, c.p0.x, w);
  if (c.hovered && !tooltip.empty()) ImGui::SetTooltip("%s", tooltip.c_str());
}

}  // namespace fm::ui
