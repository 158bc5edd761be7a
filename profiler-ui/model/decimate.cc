#include "profiler-ui/model/decimate.h"

#include <algorithm>

namespace fm::ui {

IndexRange VisibleRange(std::span<const int64_t> t_ns, int64_t begin_ns, int64_t end_ns) {
  IndexRange r;
  r.first = static_cast<size_t>(std::lower_bound(t_ns.begin(), t_ns.end(), begin_ns) - t_ns.begin());
  r.last = static_cast<size_t>(std::lower_bound(t_ns.begin(), t_ns.end(), end_ns) - t_ns.begin());
  r.last = std::max(r.last, r.first);
  return r;
}

std::vector<MinMaxColumn> DecimateMinMax(std::span<const int64_t> t_ns,
                                         std::span<const double> values, int64_t view_begin_ns,
                                         int64_t view_end_ns, int columns) {
  std::vector<MinMaxColumn> out;
  if (columns <= 0 || view_end_ns <= view_begin_ns) return out;
  const size_t n = std::min(t_ns.size(), values.size());
  const IndexRange r = VisibleRange(t_ns.first(n), view_begin_ns, view_end_ns);
  if (r.size() == 0) return out;
  const double span_ns = static_cast<double>(view_end_ns - view_begin_ns);
  const double cols_per_ns = static_cast<double>(columns) / span_ns;
  out.reserve(std::min<size_t>(r.size(), static_cast<size_t>(columns)));
  for (size_t i = r.first; i < r.last; ++i) {
    int c = static_cast<int>(static_cast<double>(t_ns[i] - view_begin_ns) * cols_per_ns);
    c = std::clamp(c, 0, columns - 1);
    const double v = values[i];
    if (out.empty() || out.back().column != c) {
      out.push_back(MinMaxColumn{c, v, v, v, v, 1});
      continue;
    }
    MinMaxColumn& col = out.back();
    col.min = std::min(col.min, v);
    col.max = std::max(col.max, v);
    col.last = v;
    ++col.count;
  }
  return out;
}

ValueRange FitRange(std::span<const double> values, IndexRange range) {
  range.last = std::min(range.last, values.size());
  if (range.first >= range.last) return {};
  const auto [lo, hi] = std::minmax_element(values.begin() + static_cast<std::ptrdiff_t>(range.first),
                                            values.begin() + static_cast<std::ptrdiff_t>(range.last));
  ValueRange v{*lo, *hi};
  if (v.hi - v.lo <= 0) {
    v.lo -= 0.5;
    v.hi += 0.5;
  }
  return v;
}

}  // namespace fm::ui
