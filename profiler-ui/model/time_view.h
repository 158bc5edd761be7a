#pragma once
// The visible time window of the timeline and counter plots, with Tracy-style navigation: the wheel
// zooms around the time under the cursor, a drag pans, and a range selection (normalised, clamped)
// limits the statistics. Pure arithmetic so the navigation rules are unit-tested without ImGui.

#include <cstdint>

namespace fm::ui {

// A half-open time range [begin_ns, end_ns) on the session clock.
struct TimeRange {
  int64_t begin_ns = 0;
  int64_t end_ns = 0;
  bool empty() const { return end_ns <= begin_ns; }
  int64_t span_ns() const { return end_ns - begin_ns; }
  bool Contains(int64_t t_ns) const { return t_ns >= begin_ns && t_ns < end_ns; }
  friend bool operator==(const TimeRange&, const TimeRange&) = default;
};

// The range between two drag points in either order; the end is exclusive, so a zero-length drag
// gives an empty range.
TimeRange RangeBetween(int64_t a_ns, int64_t b_ns);

// Intersection of two ranges (empty when disjoint).
TimeRange Intersect(const TimeRange& a, const TimeRange& b);

class TimeView {
 public:
  // Narrowest and widest window: 100 ns shows single copies, ~1 day covers any session.
  static constexpr int64_t kMinSpanNs = 100;
  static constexpr int64_t kMaxSpanNs = int64_t{86400} * 1000000000;

  TimeView() = default;
  explicit TimeView(TimeRange r) { Set(r); }

  const TimeRange& range() const { return range_; }
  // Sets the window, widening it to kMinSpanNs and narrowing it to kMaxSpanNs around its centre.
  void Set(TimeRange r);

  // Time at x pixels from the canvas's left edge (canvas `width_px` wide), and back.
  double TimeAt(double x_px, double width_px) const;
  double PixelOf(double t_ns, double width_px) const;

  // Zooms by 1.25^-wheel_steps (positive wheel zooms in) keeping the time under x_px fixed.
  void ZoomAt(double x_px, double width_px, double wheel_steps);
  // Moves the window by dx_px pixels of drag: dragging right shows earlier times.
  void PanPixels(double dx_px, double width_px);
  // Shifts the window (same span) so it ends at end_ns: the live "follow" mode.
  void FollowTo(int64_t end_ns);

 private:
  TimeRange range_{0, 1000000};
};

}  // namespace fm::ui
