#pragma once
// Min/max decimation of a time series for drawing: one column per pixel (or per few pixels), each
// keeping the extreme values of every sample it covers, so a one-sample spike in a million points
// survives at any zoom (the Tracy "plot" LOD). Only the visible range is touched: lower_bound on the
// sorted time array first, then one pass over the samples inside.

#include <cstdint>
#include <span>
#include <vector>

namespace fm::ui {

// One drawn column: the samples with t in [t_begin_ns, t_end_ns) of the column's time slice.
struct MinMaxColumn {
  int column = 0;     // index in [0, columns)
  double min = 0;
  double max = 0;
  double first = 0;   // value of the earliest sample (for connecting lines across columns)
  double last = 0;    // value of the latest sample
  uint32_t count = 0; // samples folded into this column (>= 1)
};

// Decimates (t_ns[i], values[i]), sorted by t_ns, over [view_begin_ns, view_end_ns) into `columns`
// equal time slices. Returns only non-empty columns, in column order. t_ns and values must have the
// same length (the shorter length is used otherwise). Empty when columns <= 0 or the view is empty.
std::vector<MinMaxColumn> DecimateMinMax(std::span<const int64_t> t_ns,
                                         std::span<const double> values, int64_t view_begin_ns,
                                         int64_t view_end_ns, int columns);

// Index range [first, last) of samples with t in [begin_ns, end_ns) in a sorted time array.
struct IndexRange {
  size_t first = 0;
  size_t last = 0;
  size_t size() const { return last - first; }
};
IndexRange VisibleRange(std::span<const int64_t> t_ns, int64_t begin_ns, int64_t end_ns);

// Min and max of values[first, last) for y-axis fitting; {0, 1} when empty, and a flat series
// gets a unit-wide range around its value so the axis never has zero height.
struct ValueRange {
  double lo = 0;
  double hi = 1;
};
ValueRange FitRange(std::span<const double> values, IndexRange range);

}  // namespace fm::ui
