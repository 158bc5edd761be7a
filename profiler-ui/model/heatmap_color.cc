#include "profiler-ui/model/heatmap_color.h"

#include <algorithm>
#include <cmath>

namespace fm::ui {

const char* CellClassName(CellClass c) {
  switch (c) {
    case CellClass::kCold: return "cold";
    case CellClass::kHot: return "hot";
    case CellClass::kJustEvicted: return "just evicted";
    case CellClass::kSelected: return "selected this cycle";
    case CellClass::kInFlight: return "in flight";
  }
  return "?";
}

CellClass ClassifyCell(const ResidencyGrid& g, uint32_t page, int layer, int64_t now_ns,
                       int64_t just_evicted_ns) {
  if (page >= g.pages() || layer < 0 || layer >= g.layers) return CellClass::kCold;
  const uint8_t s = g.state[page];
  if (s == kPageFetching || s == kPageWritingBack) return CellClass::kInFlight;
  if (s == kPageHot || s == kPageDirty) {
    const bool picked = (g.layer_mask[page] >> layer) & 1u;
    if (picked && g.selected_ns[page] != kNeverNs && g.selected_ns[page] >= g.cycle_start_ns) {
      return CellClass::kSelected;
    }
    return CellClass::kHot;
  }
  const int64_t ev = g.evicted_ns[page];
  if (ev != kNeverNs && now_ns >= ev && now_ns - ev <= just_evicted_ns) return CellClass::kJustEvicted;
  return CellClass::kCold;
}

uint32_t CellColor(CellClass c, float intensity) {
  struct Rgb { float r, g, b; };
  static constexpr Rgb kBase[kCellClasses] = {
      {38, 44, 62},    // cold: dark slate, so the hot structure stands out
      {232, 96, 44},   // hot: orange
      {168, 82, 214},  // just evicted: violet
      {72, 224, 120},  // selected this cycle: green
      {246, 214, 52},  // in flight: yellow
  };
  const Rgb& b = kBase[static_cast<int>(c)];
  const float k = c == CellClass::kCold ? 1.0f : 0.45f + 0.55f * std::clamp(intensity, 0.0f, 1.0f);
  auto ch = [k](float v) { return static_cast<uint32_t>(std::lround(std::clamp(v * k, 0.0f, 255.0f))); };
  return ch(b.r) | (ch(b.g) << 8) | (ch(b.b) << 16) | (0xFFu << 24);
}

float UseIntensity(const ResidencyGrid& g, uint32_t page, int layer) {
  if (g.l2_use.empty()) return 1.0f;
  // Level-2 picks a page at most once per step, so 16 uses in a cycle is already a very hot page.
  return std::min(static_cast<float>(g.L2Use(page, layer)) / 16.0f, 1.0f);
}

bool BuildHeatmapImage(const ResidencyGrid& g, double page_begin, double page_end, int columns,
                       int64_t now_ns, std::vector<uint32_t>* rgba) {
  rgba->clear();
  const uint32_t pages = g.pages();
  if (pages == 0 || g.layers <= 0 || columns <= 0 || page_end <= page_begin) return false;
  rgba->resize(static_cast<size_t>(columns) * static_cast<size_t>(g.layers));
  const double pages_per_col = (page_end - page_begin) / columns;
  for (int c = 0; c < columns; ++c) {
    const double p0 = page_begin + c * pages_per_col;
    const double p1 = p0 + pages_per_col;
    int64_t first = static_cast<int64_t>(std::floor(p0));
    int64_t last = std::max(first + 1, static_cast<int64_t>(std::ceil(p1)));
    first = std::clamp<int64_t>(first, 0, pages);
    last = std::clamp<int64_t>(last, 0, pages);
    for (int layer = 0; layer < g.layers; ++layer) {
      CellClass best = CellClass::kCold;
      float intensity_sum = 0;
      int best_count = 0;
      for (int64_t p = first; p < last; ++p) {
        const uint32_t page = static_cast<uint32_t>(p);
        const CellClass cls = ClassifyCell(g, page, layer, now_ns);
        if (cls < best) continue;
        if (cls > best) {
          best = cls;
          intensity_sum = 0;
          best_count = 0;
        }
        intensity_sum += UseIntensity(g, page, layer);
        ++best_count;
      }
      const float intensity = best_count ? intensity_sum / static_cast<float>(best_count) : 0.0f;
      (*rgba)[static_cast<size_t>(layer) * columns + c] =
          first < last ? CellColor(best, intensity) : 0xFF000000u;
    }
  }
  return true;
}

std::vector<uint64_t> CountClasses(const ResidencyGrid& g, int64_t now_ns) {
  std::vector<uint64_t> counts(kCellClasses, 0);
  for (uint32_t p = 0; p < g.pages(); ++p) {
    for (int l = 0; l < g.layers; ++l) ++counts[static_cast<int>(ClassifyCell(g, p, l, now_ns))];
  }
  return counts;
}

}  // namespace fm::ui
