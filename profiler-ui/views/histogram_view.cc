#include "profiler-ui/views/histogram_view.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "profiler-ui/views/draw_util.h"

namespace fm::ui {
namespace {

constexpr ImU32 kBarA = IM_COL32(90, 170, 255, 255);
constexpr ImU32 kBarB = IM_COL32(255, 150, 60, 140);

std::string ValueLabel(bool per_kib, uint64_t v) {
  return per_kib ? absl::StrFormat("%s/KiB", FormatNs(static_cast<double>(v))) : FormatNs(static_cast<double>(v));
}

}  // namespace

void DrawLatencyHistogram(ViewState& v, const RangeStats& a, const RangeStats* b) {
  ImGui::Checkbox("per KiB", &v.per_kib);
  const LogHistogram& ha = v.per_kib ? a.ns_per_kib : a.latency_ns;
  const LogHistogram* hb = b ? (v.per_kib ? &b->ns_per_kib : &b->latency_ns) : nullptr;
  ImGui::SameLine();
  ImGui::Text("n=%llu  p50 %s  p90 %s  p99 %s  max %s", static_cast<unsigned long long>(ha.total()),
              ValueLabel(v.per_kib, ha.Percentile(0.5)).c_str(), ValueLabel(v.per_kib, ha.Percentile(0.9)).c_str(),
              ValueLabel(v.per_kib, ha.Percentile(0.99)).c_str(), ValueLabel(v.per_kib, ha.max()).c_str());
  if (hb != nullptr) {
    ImGui::TextColored(ImVec4(1.0f, 0.6f, 0.25f, 1.0f), "compare: n=%llu  p50 %s  p99 %s",
                       static_cast<unsigned long long>(hb->total()), ValueLabel(v.per_kib, hb->Percentile(0.5)).c_str(),
                       ValueLabel(v.per_kib, hb->Percentile(0.99)).c_str());
  }
  const Canvas c = Canvas::Begin("histogram", ImVec2(0, 0), IM_COL32(24, 26, 32, 255));
  int first = ha.total() ? ha.first_bucket() : kLogBuckets, end = ha.total() ? ha.end_bucket() : 0;
  if (hb != nullptr && hb->total() > 0) {
    first = std::min(first, hb->first_bucket());
    end = std::max(end, hb->end_bucket());
  }
  if (end <= first) {
    c.dl->AddText(ImVec2(c.p0.x + 8, c.p0.y + 8), IM_COL32(160, 160, 170, 255), "no fetches in range");
    c.End();
    return;
  }
  // Pad one bucket each side so the extreme bars are not glued to the frame.
  first = std::max(first - 1, 0);
  end = std::min(end + 1, kLogBuckets);
  const int max_bars = std::max(1, static_cast<int>(c.width() / kMinBarPx));
  const std::vector<HistogramBar> bars_a = MergeBuckets(ha, first, end, max_bars);
  std::vector<HistogramBar> bars_b;
  if (hb != nullptr) bars_b = MergeBuckets(*hb, first, end, max_bars);
  const float label_h = 14;
  const float plot_h = c.height() - label_h;
  auto draw = [&](const std::vector<HistogramBar>& bars, uint64_t total, ImU32 col) {
    if (total == 0) return;
    double peak = 0;
    for (const HistogramBar& bar : bars) peak = std::max(peak, static_cast<double>(bar.count) / static_cast<double>(total));
    const float bar_w = c.width() / static_cast<float>(bars.size());
    for (size_t i = 0; i < bars.size(); ++i) {
      if (bars[i].count == 0) continue;
      const float hgt = static_cast<float>(static_cast<double>(bars[i].count) / static_cast<double>(total) / peak) * (plot_h - 18);
      const float x = c.p0.x + bar_w * static_cast<float>(i);
      c.dl->AddRectFilled(ImVec2(x + 1, c.p0.y + plot_h - hgt), ImVec2(x + bar_w - 1, c.p0.y + plot_h), col);
    }
  };
  draw(bars_a, ha.total(), kBarA);
  if (hb != nullptr) draw(bars_b, hb->total(), kBarB);
  // x of a value: its bucket's position on the (log) bucket axis.
  const float px_per_bucket = c.width() / static_cast<float>(end - first);
  auto x_of = [&](uint64_t value) {
    return c.p0.x + (static_cast<float>(LogBucketOf(value) - first) + 0.5f) * px_per_bucket;
  };
  const struct {
    const char* name;
    uint64_t value;
    ImU32 col;
  } marks[] = {{"p50", ha.Percentile(0.5), IM_COL32(255, 255, 255, 220)},
               {"p90", ha.Percentile(0.9), IM_COL32(255, 220, 80, 220)},
               {"p99", ha.Percentile(0.99), IM_COL32(255, 120, 80, 220)},
               {"max", ha.max(), IM_COL32(255, 60, 60, 220)}};
  float label_y = c.p0.y + 2;
  for (const auto& m : marks) {
    if (ha.total() == 0) break;
    const float x = x_of(m.value);
    c.dl->AddLine(ImVec2(x, c.p0.y), ImVec2(x, c.p0.y + plot_h), m.col, 1.5f);
    c.dl->AddText(ImVec2(x + 3, label_y), m.col, m.name);
    label_y += 13;
  }
  // Axis labels at each power of ten within range.
  for (uint64_t p10 = 1; p10 < (uint64_t{1} << 62); p10 *= 10) {
    const int bk = LogBucketOf(p10);
    if (bk < first) continue;
    if (bk >= end) break;
    const float x = x_of(p10);
    c.dl->AddLine(ImVec2(x, c.p0.y + plot_h), ImVec2(x, c.p0.y + plot_h + 4), IM_COL32(160, 160, 170, 255));
    c.dl->AddText(ImVec2(x + 2, c.p0.y + plot_h), IM_COL32(160, 160, 170, 255), FormatNs(static_cast<double>(p10)).c_str());
  }
  if (c.hovered) {
    const float bar_w = c.width() / static_cast<float>(bars_a.size());
    const size_t i = static_cast<size_t>(std::clamp((ImGui::GetIO().MousePos.x - c.p0.x) / bar_w, 0.0f, static_cast<float>(bars_a.size() - 1)));
    ImGui::SetTooltip("%s - %s: %llu fetches%s", ValueLabel(v.per_kib, bars_a[i].value_lo).c_str(),
                      ValueLabel(v.per_kib, bars_a[i].value_hi).c_str(), static_cast<unsigned long long>(bars_a[i].count),
                      hb ? absl::StrFormat(" (compare %llu)", static_cast<unsigned long long>(bars_b[i].count)).c_str() : "");
  }
  c.End();
}

}  // namespace fm::ui
