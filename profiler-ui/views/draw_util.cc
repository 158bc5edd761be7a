#include "profiler-ui/views/draw_util.h"

#include <time.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace fm::ui {

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string FormatNs(double ns) {
  const double a = std::fabs(ns);
  if (a < 1e3) return absl::StrFormat("%.0f ns", ns);
  if (a < 1e6) return absl::StrFormat("%.3g us", ns * 1e-3);
  if (a < 1e9) return absl::StrFormat("%.3g ms", ns * 1e-6);
  return absl::StrFormat("%.3g s", ns * 1e-9);
}

std::string FormatBytes(double bytes) {
  if (bytes < 1024) return absl::StrFormat("%.0f B", bytes);
  if (bytes < 1024.0 * 1024) return absl::StrFormat("%.1f KiB", bytes / 1024);
  if (bytes < 1024.0 * 1024 * 1024) return absl::StrFormat("%.2f MiB", bytes / (1024.0 * 1024));
  return absl::StrFormat("%.2f GiB", bytes / (1024.0 * 1024 * 1024));
}

std::string FormatRate(double bytes_per_s) { return absl::StrFormat("%.3g GB/s", bytes_per_s * 1e-9); }

Canvas Canvas::Begin(const char* id, ImVec2 size, ImU32 background) {
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  if (size.x <= 0) size.x = avail.x;
  if (size.y <= 0) size.y = avail.y;
  size.x = std::max(size.x, 8.0f);
  size.y = std::max(size.y, 8.0f);
  Canvas c;
  c.p0 = ImGui::GetCursorScreenPos();
  c.p1 = ImVec2(c.p0.x + size.x, c.p0.y + size.y);
  ImGui::InvisibleButton(id, size, ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight);
  c.hovered = ImGui::IsItemHovered();
  c.active = ImGui::IsItemActive();
  c.dl = ImGui::GetWindowDrawList();
  c.dl->AddRectFilled(c.p0, c.p1, background);
  c.dl->PushClipRect(c.p0, c.p1, true);
  return c;
}

void Canvas::End() const { dl->PopClipRect(); }

ImU32 NameColor(uint32_t name_id) {
  // Golden-ratio hue steps keep neighbouring ids apart; fixed saturation/value stay readable on
  // the dark background.
  const float hue = std::fmod(static_cast<float>(name_id) * 0.618034f, 1.0f);
  float r, g, b;
  ImGui::ColorConvertHSVtoRGB(hue, 0.55f, 0.80f, r, g, b);
  return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1.0f));
}

}  // namespace fm::ui
