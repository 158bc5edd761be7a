#include "profiler-ui/views/counters_view.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "profiler-ui/model/decimate.h"
#include "profiler-ui/views/draw_util.h"
#include "profiler-ui/views/timeline_view.h"

namespace fm::ui {
namespace {

struct Line {
  const Series* series;
  ImU32 color;
  const char* label;
};

// One plot: the lines share a y range (fixed, or fitted to what is visible), plus an optional
// horizontal reference line (link capacity).
void Plot(ViewState& v, const char* id, const char* title, std::initializer_list<Line> lines, std::optional<ValueRange> fixed,
          std::optional<double> reference, const char* unit, double scale) {
  const float h = std::max(36.0f, ImGui::GetContentRegionAvail().y);
  const Canvas c = Canvas::Begin(id, ImVec2(0, h), IM_COL32(24, 26, 32, 255));
  const TimeRange r = v.timeline.range();
  const int columns = std::max(1, static_cast<int>(c.width()));
  std::vector<std::vector<MinMaxColumn>> cols;
  ValueRange yr{0, 0};
  bool any = false;
  {
    PreprocessTimer timer(&v.preprocess_ms);
    for (const Line& l : lines) {
      cols.push_back(DecimateMinMax(l.series->t_ns, l.series->v, r.begin_ns, r.end_ns, columns));
      for (const MinMaxColumn& m : cols.back()) {
        yr.lo = any ? std::min(yr.lo, m.min) : m.min;
        yr.hi = any ? std::max(yr.hi, m.max) : m.max;
        any = true;
      }
    }
  }
  if (reference) yr.hi = std::max(yr.hi, *reference);
  if (fixed) yr = *fixed;
  if (!any && !fixed) yr = {0, 1};
  if (yr.hi - yr.lo <= 0) yr = {yr.lo - 0.5, yr.hi + 0.5};
  if (!fixed && yr.lo > 0) yr.lo = 0;  // rates and times read best from zero
  const float top = c.p0.y + 2, bottom = c.p1.y - 2;
  auto y_of = [&](double val) {
    return bottom - static_cast<float>((val - yr.lo) / (yr.hi - yr.lo)) * (bottom - top);
  };
  const float col_w = c.width() / static_cast<float>(columns);
  if (reference) {
    const float y = y_of(*reference);
    c.dl->AddLine(ImVec2(c.p0.x, y), ImVec2(c.p1.x, y), IM_COL32(255, 80, 80, 180), 1.0f);
  }
  for (size_t li = 0; li < cols.size(); ++li) {
    const ImU32 col = lines.begin()[li].color;
    const MinMaxColumn* prev = nullptr;
    for (const MinMaxColumn& m : cols[li]) {
      const float x = c.p0.x + (static_cast<float>(m.column) + 0.5f) * col_w;
      if (prev != nullptr) {
        const float px = c.p0.x + (static_cast<float>(prev->column) + 0.5f) * col_w;
        c.dl->AddLine(ImVec2(px, y_of(prev->last)), ImVec2(x, y_of(m.first)), col);
      }
      c.dl->AddLine(ImVec2(x, y_of(m.min)), ImVec2(x, y_of(m.max) - 1), col);
      prev = &m;
    }
  }
  std::string head = title;
  for (const Line& l : lines) {
    if (!l.series->empty() && l.label[0] != 0) head += absl::StrFormat("  %s %.3g", l.label, l.series->v.back() * scale);
  }
  head += absl::StrFormat("  [%.3g..%.3g %s]", yr.lo * scale, yr.hi * scale, unit);
  c.dl->AddText(ImVec2(c.p0.x + 4, c.p0.y + 1), IM_COL32(200, 200, 210, 255), head.c_str());
  if (c.hovered) {
    const int col_i = static_cast<int>((ImGui::GetIO().MousePos.x - c.p0.x) / col_w);
    std::string tip;
    for (size_t li = 0; li < cols.size(); ++li) {
      for (const MinMaxColumn& m : cols[li]) {
        if (m.column != col_i) continue;
        tip += absl::StrFormat("%s%s: min %.4g max %.4g %s (%u samples)\n", title, lines.begin()[li].label, m.min * scale,
                               m.max * scale, unit, m.count);
      }
    }
    if (!tip.empty()) ImGui::SetTooltip("%s", tip.c_str());
  }
  c.End();
  HandleTimeNavigation(v, c.hovered, c.active, c.p0.x, c.width());
}

}  // namespace

void DrawCounters(ViewState& v, const Store& s) {
  const float avail = ImGui::GetContentRegionAvail().y;
  const float each = std::max(36.0f, (avail - 5 * ImGui::GetStyle().ItemSpacing.y) / 6.0f);
  const ValueRange unit_range{0, 1};
  auto child = [&](const char* id, auto&& body) {
    ImGui::BeginChild(id, ImVec2(0, each), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
    body();
    ImGui::EndChild();
  };
  child("c_tok", [&] {
    Plot(v, "tok", "tok/s", {{&s.derived(Derived::kTokensPerS), IM_COL32(90, 200, 255, 255), ""}}, std::nullopt, std::nullopt,
         "tok/s", 1.0);
  });
  child("c_tpot", [&] {
    Plot(v, "tpot", "TPOT",
         {{&s.derived(Derived::kTpotOtherMs), IM_COL32(120, 170, 255, 255), " other"},
          {&s.derived(Derived::kTpotBoundaryMs), IM_COL32(255, 110, 70, 255), " boundary"}},
         std::nullopt, std::nullopt, "ms", 1.0);
  });
  child("c_cov", [&] {
    Plot(v, "cov", "coverage", {{&s.derived(Derived::kCoverage), IM_COL32(80, 230, 120, 255), ""}}, unit_range, std::nullopt, "%",
         100.0);
  });
  child("c_link", [&] {
    Plot(v, "link", "link", {{&s.derived(Derived::kLinkBytesPerS), IM_COL32(250, 210, 60, 255), ""}}, std::nullopt,
         v.link_capacity_gbps * 1e9, "GB/s", 1e-9);
  });
  child("c_pool", [&] {
    Plot(v, "pool", "hot pool", {{&s.derived(Derived::kHotPoolOccupancy), IM_COL32(232, 96, 44, 255), ""}}, unit_range,
         std::nullopt, "%", 100.0);
  });
  child("c_stall", [&] {
    Plot(v, "stall", "stall", {{&s.derived(Derived::kStallFraction), IM_COL32(255, 80, 80, 255), ""}}, unit_range,
         std::nullopt, "%", 100.0);
  });
}

}  // namespace fm::ui
