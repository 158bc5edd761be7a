#include "profiler-ui/views/heatmap_view.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_format.h"
#include "profiler-ui/model/heatmap_color.h"
#include "profiler-ui/views/draw_util.h"

namespace fm::ui {

int64_t HeatmapTime(const ViewState& v, const Store& s) { return v.live ? s.last_ns() : v.cursor_ns; }

void ZoomPages(ViewState& v, double anchor_page, double wheel, uint32_t pages) {
  const double span = v.page_end - v.page_begin;
  if (span <= 0 || pages == 0) return;
  const double frac = (anchor_page - v.page_begin) / span;
  const double new_span = std::clamp(span * std::pow(1.25, -wheel), std::min(4.0, static_cast<double>(pages)),
                                     static_cast<double>(pages));
  double begin = anchor_page - frac * new_span;
  begin = std::clamp(begin, 0.0, static_cast<double>(pages) - new_span);
  v.page_begin = begin;
  v.page_end = begin + new_span;
}

void DrawHeatmap(ViewState& v, const Store& s, TextureSink* tex) {
  const std::vector<uint32_t> ids = s.request_ids();
  if (ids.empty()) {
    ImGui::TextUnformatted("no residency data yet");
    return;
  }
  if (std::find(ids.begin(), ids.end(), v.request_id) == ids.end()) {
    v.request_id = ids.front();
    v.heatmap_fitted = false;
  }
  ImGui::SetNextItemWidth(140);
  if (ImGui::BeginCombo("request", absl::StrFormat("%u", v.request_id).c_str())) {
    for (uint32_t id : ids) {
      if (ImGui::Selectable(absl::StrFormat("%u", id).c_str(), id == v.request_id)) {
        v.request_id = id;
        v.heatmap_fitted = false;
      }
    }
    ImGui::EndCombo();
  }
  const int64_t t = HeatmapTime(v, s);
  const ResidencyGrid* grid;
  {
    PreprocessTimer timer(&v.preprocess_ms);
    grid = &v.residency.Seek(s, v.request_id, t);
  }
  const uint32_t pages = grid->pages();
  if (!v.heatmap_fitted || v.page_end > pages || v.page_end <= v.page_begin) {
    v.page_begin = 0;
    v.page_end = pages;
    v.heatmap_fitted = pages > 0;
  }
  // Legend.
  for (int k = 0; k < kCellClasses; ++k) {
    ImGui::SameLine();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + 3), ImVec2(p.x + 10, p.y + 13),
                                              CellColor(static_cast<CellClass>(k), 1.0f));
    ImGui::Dummy(ImVec2(12, 14));
    ImGui::SameLine();
    ImGui::TextUnformatted(CellClassName(static_cast<CellClass>(k)));
  }
  ImGui::SameLine();
  ImGui::Text("| pages %.0f-%.0f of %u, %d layers", v.page_begin, v.page_end, pages, grid->layers);

  const Canvas c = Canvas::Begin("heatmap", ImVec2(0, 0), IM_COL32(16, 16, 20, 255));
  const int columns = std::max(1, static_cast<int>(c.width()));
  bool have_image;
  {
    PreprocessTimer timer(&v.preprocess_ms);
    have_image = BuildHeatmapImage(*grid, v.page_begin, v.page_end, columns, t, &v.heat_rgba);
    v.heat_columns = have_image ? columns : 0;
  }
  const int layers = grid->layers;
  const float row_h = layers > 0 ? c.height() / static_cast<float>(layers) : 0;
  if (have_image) {
    if (tex != nullptr) {
      const ImTextureID id = tex->Upload(columns, layers, v.heat_rgba.data());
      c.dl->AddImage(id, c.p0, ImVec2(c.p0.x + static_cast<float>(columns), c.p1.y));
    } else {
      for (int l = 0; l < layers; ++l) {
        const uint32_t* row = v.heat_rgba.data() + static_cast<size_t>(l) * columns;
        for (int x = 0; x < columns;) {
          int e = x + 1;
          while (e < columns && row[e] == row[x]) ++e;
          c.dl->AddRectFilled(ImVec2(c.p0.x + static_cast<float>(x), c.p0.y + row_h * static_cast<float>(l)),
                              ImVec2(c.p0.x + static_cast<float>(e), c.p0.y + row_h * static_cast<float>(l + 1)), row[x]);
          x = e;
        }
      }
    }
  }
  ImGuiIO& io = ImGui::GetIO();
  const double pages_per_px = (v.page_end - v.page_begin) / c.width();
  const double mouse_page = v.page_begin + (io.MousePos.x - c.p0.x) * pages_per_px;
  v.heat_hover.valid = false;
  if (c.hovered && pages > 0 && layers > 0) {
    if (io.MouseWheel != 0) ZoomPages(v, mouse_page, io.MouseWheel, pages);
    const int64_t page = static_cast<int64_t>(std::floor(mouse_page));
    const int layer = static_cast<int>((io.MousePos.y - c.p0.y) / row_h);
    if (page >= 0 && page < pages && layer >= 0 && layer < layers) {
      const uint32_t p = static_cast<uint32_t>(page);
      v.heat_hover = {true, p, layer};
      const uint64_t tpp = s.tokens_per_page();
      const int picked = std::popcount(grid->layer_mask[p]);
      const int64_t lat = grid->fetch_latency_ns[p];
      ImGui::SetTooltip("page %u, layer %d: %s\ntokens %llu-%llu\ndensity: L2 use %u, picked by %d/%d layers\nlast fetch %s",
                        p, layer, CellClassName(ClassifyCell(*grid, p, layer, t)),
                        static_cast<unsigned long long>(p * tpp), static_cast<unsigned long long>((p + 1) * tpp - 1),
                        grid->L2Use(p, layer), picked, layers, lat >= 0 ? FormatNs(static_cast<double>(lat)).c_str() : "n/a");
    }
  }
  if (c.active && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.0f) && pages > 0) {
    const double shift = -io.MouseDelta.x * pages_per_px;
    const double span = v.page_end - v.page_begin;
    v.page_begin = std::clamp(v.page_begin + shift, 0.0, static_cast<double>(pages) - span);
    v.page_end = v.page_begin + span;
  }
  c.End();
}

}  // namespace fm::ui
