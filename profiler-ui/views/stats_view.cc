#include "profiler-ui/views/stats_view.h"

#include "absl/strings/str_format.h"
#include "profiler-ui/views/draw_util.h"

namespace fm::ui {

uint64_t DroppedTotal(const Store& s) {
  return s.runtime_dropped_events() + s.seq_gap_frames() + s.store_dropped() + s.decode_errors();
}

void DrawDroppedBadge(const Store& s) {
  if (DroppedTotal(s) == 0) return;
  ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(200, 30, 30, 255));
  ImGui::PushStyleColor(ImGuiCol_ButtonHovered, IM_COL32(230, 50, 50, 255));
  ImGui::SmallButton(absl::StrFormat("DROPPED %llu", static_cast<unsigned long long>(DroppedTotal(s))).c_str());
  ImGui::PopStyleColor(2);
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("runtime events dropped: %llu\nframes missing (seq gaps): %llu\nstore limit drops: %llu\nundecodable frames: %llu",
                      static_cast<unsigned long long>(s.runtime_dropped_events()), static_cast<unsigned long long>(s.seq_gap_frames()),
                      static_cast<unsigned long long>(s.store_dropped()), static_cast<unsigned long long>(s.decode_errors()));
  }
}

void DrawStats(ViewState& v, const Store& s, bool have_compare) {
  const TimeRange r = v.stats.range;
  ImGui::Text("%s: %s", v.selection ? "selection" : "session", FormatNs(static_cast<double>(r.span_ns())).c_str());
  ImGui::SameLine();
  DrawDroppedBadge(s);
  const std::vector<StatRow> rows = StatRows(v.stats, have_compare ? &v.compare_stats : nullptr);
  const int cols = have_compare ? 4 : 2;
  if (ImGui::BeginTable("stats", cols, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingStretchProp)) {
    ImGui::TableSetupColumn("metric");
    ImGui::TableSetupColumn("A");
    if (have_compare) {
      ImGui::TableSetupColumn("B");
      ImGui::TableSetupColumn("delta");
    }
    ImGui::TableHeadersRow();
    for (const StatRow& row : rows) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(row.name.c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%.4g %s", row.a, row.unit);
      if (have_compare) {
        ImGui::TableNextColumn();
        ImGui::Text("%.4g %s", row.b, row.unit);
        ImGui::TableNextColumn();
        const double d = DeltaPercent(row.a, row.b);
        ImGui::TextColored(d > 0.5 ? ImVec4(1, 0.6f, 0.3f, 1) : d < -0.5 ? ImVec4(0.4f, 0.8f, 1, 1) : ImVec4(0.8f, 0.8f, 0.8f, 1),
                           "%+.1f%%", d);
      }
    }
    ImGui::EndTable();
  }
  if (s.pools()) {
    ImGui::Text("hot pool %u/%u slots (%u fetching, %u dirty)", s.pools()->slots_used, s.pools()->slots_total,
                s.pools()->slots_fetching, s.pools()->slots_dirty);
  }
  if (s.params()) {
    ImGui::Text("tau %u  delta %u  threshold %.3g  KMAX %u/%u", s.params()->tau_steps, s.params()->delta_steps,
                s.params()->threshold, s.params()->kmax_pages, s.params()->kmax_max_pages);
  }
  ImGui::Text("requests %zu, events %llu", s.requests().size(), static_cast<unsigned long long>(s.events_kept()));
}

}  // namespace fm::ui
