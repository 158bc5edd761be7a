#pragma once
// A small SVG line/scatter plot writer for `flashmem plan` and `flashmem tune`: axes with "nice"
// ticks (linear or log2), gridlines, one colour per series, a legend. Output is plain SVG 1.1
// text, so it opens in any browser and converts with rsvg-convert.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fm::plot {

struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  bool lines = true;    // connect points in x order as given
  bool markers = true;  // draw a dot at each point
};

struct PlotSpec {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log2_x = false;   // ticks at powers of two (context lengths)
  bool log10_x = false;  // ticks at powers of ten (quantities spanning decades)
  std::function<std::string(double)> x_tick_format;  // default: %g
  std::function<std::string(double)> y_tick_format;
  std::vector<Series> series;
  int width_px = 720;
  int height_px = 440;
};

// Renders the plot. Points that are not finite (or <= 0 on a log axis) are skipped. An empty plot
// still renders its axes.
std::string RenderSvg(const PlotSpec& spec);

// RenderSvg to `path`. Unavailable naming the path when it cannot be written.
absl::Status WriteSvg(const PlotSpec& spec, const std::string& path);

// Tick positions covering [lo, hi] at a 1-2-5 step, about `target` of them.
std::vector<double> NiceTicks(double lo, double hi, int target);

// Formats a token count as 64K / 1M / 1.5M.
std::string FormatTokens(double tokens);

}  // namespace fm::plot
