#include "tools/plot/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fm::plot {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string DefaultFormat(double v) { return absl::StrFormat("%g", v); }

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || target < 1) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string FormatTokens(double t) {
  if (t >= 1 << 20) return absl::StrFormat("%gM", t / (1 << 20));
  if (t >= 1 << 10) return absl::StrFormat("%gK", t / (1 << 10));
  return absl::StrFormat("%g", t);
}

std::string RenderSvg(const PlotSpec& spec) {
  const double w = spec.width_px, h = spec.height_px;
  const double left = 80, right = 190, top = 40, bottom = 60;
  const double pw = w - left - right, ph = h - top - bottom;
  auto fx = spec.x_tick_format ? spec.x_tick_format : DefaultFormat;
  auto fy = spec.y_tick_format ? spec.y_tick_format : DefaultFormat;
  const bool log_x = spec.log2_x || spec.log10_x;
  auto tx = [&](double x) { return spec.log2_x ? std::log2(x) : spec.log10_x ? std::log10(x) : x; };
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0);
  };

  double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = -INFINITY;  // y axis starts at 0
  for (const Series& s : spec.series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!usable(s.x[i], s.y[i])) continue;
      x0 = std::min(x0, tx(s.x[i]));
      x1 = std::max(x1, tx(s.x[i]));
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  }
  if (!(x1 > x0)) {
    x0 = std::isfinite(x0) ? x0 - 1 : 0;
    x1 = x0 + 2;
  }
  if (!(y1 > y0)) y1 = y0 + 1;
  std::vector<double> yt = NiceTicks(y0, y1 * 1.05, 6);
  y1 = std::max(y1, yt.back());
  std::vector<double> xt;
  if (log_x) {
    for (double e = std::ceil(x0 - 1e-9); e <= x1 + 1e-9; e += 1) xt.push_back(e);
  } else {
    xt = NiceTicks(x0, x1, 7);
  }
  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * pw; };
  auto py = [&](double v) { return top + ph - (v - y0) / (y1 - y0) * ph; };

  std::string o = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n",
      spec.width_px, spec.height_px, spec.width_px, spec.height_px);
  absl::StrAppendFormat(
      &o, "<text x=\"%g\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n",
      left + pw / 2, Escape(spec.title));
  for (double t : yt) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    absl::StrAppendFormat(&o,
                          "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                          left, py(t), left + pw, py(t), left - 6, py(t) + 4, Escape(fy(t)));
  }
  for (double t : xt) {
    const double v = spec.log2_x ? std::exp2(t) : spec.log10_x ? std::pow(10.0, t) : t;
    absl::StrAppendFormat(&o,
                          "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
                          px(t), top, px(t), top + ph, px(t), top + ph + 18, Escape(fx(v)));
  }
  absl::StrAppendFormat(&o,
                        "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
                        "stroke=\"black\"/>\n",
                        left, top, pw, ph);
  absl::StrAppendFormat(&o, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
                        left + pw / 2, h - 18, Escape(spec.x_label));
  absl::StrAppendFormat(&o,
                        "<text x=\"18\" y=\"%g\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 18 %g)\">%s</text>\n",
                        top + ph / 2, top + ph / 2, Escape(spec.y_label));
  for (size_t si = 0; si < spec.series.size(); ++si) {
    const Series& s = spec.series[si];
    const char* color = kColors[si % (sizeof(kColors) / sizeof(kColors[0]))];
    std::string pts;
    std::string dots;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!usable(s.x[i], s.y[i])) continue;
      absl::StrAppendFormat(&pts, "%.1f,%.1f ", px(tx(s.x[i])), py(s.y[i]));
      if (s.markers) {
        absl::StrAppendFormat(&dots, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                              px(tx(s.x[i])), py(s.y[i]), color);
      }
    }
    if (s.lines && !pts.empty()) {
      absl::StrAppendFormat(&o,
                            "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                            "stroke-width=\"2\"/>\n",
                            pts, color);
    }
    o += dots + "\n";
    const double ly = top + 10 + 20 * static_cast<double>(si);
    absl::StrAppendFormat(&o,
                          "<rect x=\"%g\" y=\"%g\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                          "<text x=\"%g\" y=\"%g\">%s</text>\n",
                          left + pw + 12, ly - 4, color, left + pw + 30, ly + 2, Escape(s.label));
  }
  o += "</svg>\n";
  return o;
}

absl::Status WriteSvg(const PlotSpec& spec, const std::string& path) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const std::string svg = RenderSvg(spec);
  f.write(svg.data(), static_cast<std::streamsize>(svg.size()));
  f.close();
  if (!f) return absl::UnavailableError(absl::StrFormat("%s: cannot write the plot", path));
  return absl::OkStatus();
}

}  // namespace fm::plot
