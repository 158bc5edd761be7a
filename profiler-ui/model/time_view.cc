#include "profiler-ui/model/time_view.h"

#include <algorithm>
#include <cmath>

namespace fm::ui {

TimeRange RangeBetween(int64_t a_ns, int64_t b_ns) {
  return a_ns <= b_ns ? TimeRange{a_ns, b_ns} : TimeRange{b_ns, a_ns};
}

TimeRange Intersect(const TimeRange& a, const TimeRange& b) {
  TimeRange r{std::max(a.begin_ns, b.begin_ns), std::min(a.end_ns, b.end_ns)};
  if (r.end_ns < r.begin_ns) r.end_ns = r.begin_ns;
  return r;
}

void TimeView::Set(TimeRange r) {
  if (r.end_ns < r.begin_ns) std::swap(r.begin_ns, r.end_ns);
  const int64_t span = std::clamp(r.span_ns(), kMinSpanNs, kMaxSpanNs);
  const int64_t mid = r.begin_ns + r.span_ns() / 2;
  range_.begin_ns = mid - span / 2;
  range_.end_ns = range_.begin_ns + span;
}

double TimeView::TimeAt(double x_px, double width_px) const {
  if (width_px <= 0) return static_cast<double>(range_.begin_ns);
  return static_cast<double>(range_.begin_ns) +
         x_px / width_px * static_cast<double>(range_.span_ns());
}

double TimeView::PixelOf(double t_ns, double width_px) const {
  return (t_ns - static_cast<double>(range_.begin_ns)) / static_cast<double>(range_.span_ns()) *
         width_px;
}

void TimeView::ZoomAt(double x_px, double width_px, double wheel_steps) {
  if (width_px <= 0 || wheel_steps == 0) return;
  const double anchor = TimeAt(x_px, width_px);
  const double frac = std::clamp(x_px / width_px, 0.0, 1.0);
  double span = static_cast<double>(range_.span_ns()) * std::pow(1.25, -wheel_steps);
  span = std::clamp(span, static_cast<double>(kMinSpanNs), static_cast<double>(kMaxSpanNs));
  const int64_t begin = static_cast<int64_t>(std::llround(anchor - frac * span));
  range_ = TimeRange{begin, begin + static_cast<int64_t>(std::llround(span))};
}

void TimeView::PanPixels(double dx_px, double width_px) {
  if (width_px <= 0) return;
  const int64_t shift = static_cast<int64_t>(
      std::llround(-dx_px / width_px * static_cast<double>(range_.span_ns())));
  range_.begin_ns += shift;
  range_.end_ns += shift;
}

void TimeView::FollowTo(int64_t end_ns) {
  const int64_t span = range_.span_ns();
  range_ = TimeRange{end_ns - span, end_ns};
}

}  // namespace fm::ui
