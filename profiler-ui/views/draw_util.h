#pragma once
// Small drawing helpers shared by the views: unit formatting, a canvas (InvisibleButton for input +
// ImDrawList for pixels, the imgui_demo "custom rendering" pattern) and a preprocess timer.

#include <cstdint>
#include <string>

#include "imgui.h"

namespace fm::ui {

std::string FormatNs(double ns);        // "850 ns", "12.3 us", "4.56 ms", "1.23 s"
std::string FormatBytes(double bytes);  // "512 B", "64.0 KiB", "1.50 MiB", "2.00 GiB"
std::string FormatRate(double bytes_per_s);  // "12.3 GB/s"

// An interactive drawing area of `size` (<= 0 components take the remaining space, at least 8 px).
// Pushes a clip rect; call End() when done drawing.
struct Canvas {
  ImVec2 p0, p1;
  bool hovered = false;
  bool active = false;
  ImDrawList* dl = nullptr;
  float width() const { return p1.x - p0.x; }
  float height() const { return p1.y - p0.y; }
  static Canvas Begin(const char* id, ImVec2 size, ImU32 background);
  void End() const;
};

// A stable colour for a name (zones of the same name share a colour across lanes).
ImU32 NameColor(uint32_t name_id);

// CPU time of the calling thread in ns. Frame costs are reported in CPU time, not wall time, so
// they stay meaningful on a shared, loaded machine (and the UI thread does no blocking I/O).
int64_t ThreadCpuNs();

// Adds the CPU time of its scope to *ms: the "preprocess" share of a frame (model work, not ImGui).
class PreprocessTimer {
 public:
  explicit PreprocessTimer(double* ms) : ms_(ms), start_ns_(ThreadCpuNs()) {}
  ~PreprocessTimer() { *ms_ += static_cast<double>(ThreadCpuNs() - start_ns_) * 1e-6; }
  PreprocessTimer(const PreprocessTimer&) = delete;
  PreprocessTimer& operator=(const PreprocessTimer&) = delete;

 private:
  double* ms_;
  int64_t start_ns_;
};

}  // namespace fm::ui
