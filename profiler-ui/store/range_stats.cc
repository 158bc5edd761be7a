#include "profiler-ui/store/range_stats.h"

#include <algorithm>

#include "profiler-ui/model/decimate.h"

namespace fm::ui {

RangeStats ComputeRangeStats(const Store& store, TimeRange range) {
  RangeStats st;
  st.range = range;
  if (range.empty()) return st;
  const double span_s = static_cast<double>(range.span_ns()) * 1e-9;

  // Steps: a step's duration is the gap from the previous step end.
  const std::vector<StepRec>& steps = store.steps();
  auto first = std::lower_bound(steps.begin(), steps.end(), range.begin_ns,
                                [](const StepRec& s, int64_t t) { return s.t_ns < t; });
  double boundary_ms = 0, other_ms = 0;
  uint64_t other_n = 0;
  for (auto it = first; it != steps.end() && it->t_ns < range.end_ns; ++it) {
    ++st.steps;
    st.tokens += it->tokens;
    if (it == steps.begin()) continue;
    const double dt_ms = static_cast<double>(it->t_ns - std::prev(it)->t_ns) * 1e-6;
    if (it->boundary) {
      boundary_ms += dt_ms;
      ++st.boundary_steps;
    } else {
      other_ms += dt_ms;
      ++other_n;
    }
  }
  st.tokens_per_s = static_cast<double>(st.tokens) / span_s;
  st.tpot_boundary_ms = st.boundary_steps ? boundary_ms / static_cast<double>(st.boundary_steps) : 0;
  st.tpot_other_ms = other_n ? other_ms / static_cast<double>(other_n) : 0;

  for (const auto& [track, lane] : store.copies()) {
    const IndexRange r = VisibleRange(lane.start_ns, range.begin_ns, range.end_ns);
    for (size_t i = r.first; i < r.last; ++i) {
      const int64_t latency = lane.start_ns[i] + lane.dur_ns[i] - lane.issue_ns[i];
      const uint64_t lat = latency > 0 ? static_cast<uint64_t>(latency) : 0;
      ++st.fetches;
      st.fetch_bytes += lane.bytes[i];
      st.latency_ns.Add(lat);
      if (lane.bytes[i] > 0) {
        st.ns_per_kib.Add(static_cast<uint64_t>(static_cast<double>(lat) * 1024.0 /
                                                static_cast<double>(lane.bytes[i])));
      }
    }
  }
  st.link_bytes_per_s = static_cast<double>(st.fetch_bytes) / span_s;

  const Series& cov = store.derived(Derived::kCoverage);
  const IndexRange cr = VisibleRange(cov.t_ns, range.begin_ns, range.end_ns);
  if (cr.size() > 0) {
    double sum = 0;
    for (size_t i = cr.first; i < cr.last; ++i) sum += cov.v[i];
    st.coverage = sum / static_cast<double>(cr.size());
  }

  double stall_ns = 0;
  for (const PublishRec& p : store.publishes()) {
    if (!range.Contains(p.t_ns)) continue;
    ++st.publishes;
    stall_ns += p.stall_ns;
  }
  st.stall_fraction = stall_ns / static_cast<double>(range.span_ns());
  return st;
}

double DeltaPercent(double a, double b) {
  if (a == 0) return 0;
  return (b - a) / a * 100.0;
}

std::vector<StatRow> StatRows(const RangeStats& a, const RangeStats* b) {
  const RangeStats& bb = b ? *b : a;
  auto row = [](const char* n, double va, double vb, const char* unit) {
    return StatRow{n, va, vb, unit};
  };
  return {
      row("steps", static_cast<double>(a.steps), static_cast<double>(bb.steps), ""),
      row("tokens/s", a.tokens_per_s, bb.tokens_per_s, "tok/s"),
      row("TPOT boundary", a.tpot_boundary_ms, bb.tpot_boundary_ms, "ms"),
      row("TPOT other", a.tpot_other_ms, bb.tpot_other_ms, "ms"),
      row("fetches", static_cast<double>(a.fetches), static_cast<double>(bb.fetches), ""),
      row("fetch p50", static_cast<double>(a.latency_ns.Percentile(0.5)) * 1e-3,
          static_cast<double>(bb.latency_ns.Percentile(0.5)) * 1e-3, "us"),
      row("fetch p90", static_cast<double>(a.latency_ns.Percentile(0.9)) * 1e-3,
          static_cast<double>(bb.latency_ns.Percentile(0.9)) * 1e-3, "us"),
      row("fetch p99", static_cast<double>(a.latency_ns.Percentile(0.99)) * 1e-3,
          static_cast<double>(bb.latency_ns.Percentile(0.99)) * 1e-3, "us"),
      row("fetch max", static_cast<double>(a.latency_ns.max()) * 1e-3,
          static_cast<double>(bb.latency_ns.max()) * 1e-3, "us"),
      row("p50 per KiB", static_cast<double>(a.ns_per_kib.Percentile(0.5)),
          static_cast<double>(bb.ns_per_kib.Percentile(0.5)), "ns/KiB"),
      row("link", a.link_bytes_per_s * 1e-9, bb.link_bytes_per_s * 1e-9, "GB/s"),
      row("coverage", a.coverage * 100, bb.coverage * 100, "%"),
      row("stall", a.stall_fraction * 100, bb.stall_fraction * 100, "%"),
  };
}

}  // namespace fm::ui
