#include "tools/cli/util_run_summary.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace fm::cli {

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return static_cast<double>(v[std::clamp<size_t>(rank, 1, v.size()) - 1]);
}

RunSummary Summarize(const rt::Engine& engine, const std::vector<rt::StepRecord>& steps,
                     int64_t peak_full_kv_bytes) {
  RunSummary s;
  const rt::EngineStats& st = engine.stats();
  s.mode = std::string(rt::SelectionModeName(engine.config().mode));
  s.steps = st.steps;
  s.tokens = st.tokens;
  s.wall_s = static_cast<double>(st.wall_ns) * 1e-9;
  s.tok_per_s = s.wall_s > 0 ? static_cast<double>(st.tokens) / s.wall_s : 0;
  std::vector<int64_t> boundary, other;
  for (const rt::StepRecord& r : steps) (r.boundary ? boundary : other).push_back(r.wall_ns);
  s.boundary_steps = static_cast<int64_t>(boundary.size());
  s.tpot_boundary_p50_ms = Percentile(boundary, 0.5) * 1e-6;
  s.tpot_boundary_p99_ms = Percentile(boundary, 0.99) * 1e-6;
  s.tpot_other_p50_ms = Percentile(other, 0.5) * 1e-6;
  s.tpot_other_p99_ms = Percentile(other, 0.99) * 1e-6;
  // Full mode keeps every chunk resident: its coverage is 1 by construction, no shadow needed.
  s.full_mode = engine.scheduler() == nullptr;
  s.coverage_measured = st.picks > 0 || s.full_mode;
  s.coverage = st.picks > 0 ? static_cast<double>(st.picks_resident) / static_cast<double>(st.picks)
                            : (s.full_mode ? 1.0 : 0.0);
  s.cycles = st.cycles;
  s.bytes_per_cycle =
      st.cycles > 0 ? static_cast<double>(st.cycle_h2d_bytes) / static_cast<double>(st.cycles) : 0;
  s.stall_fraction =
      st.wall_ns > 0 ? static_cast<double>(st.stall_ns) / static_cast<double>(st.wall_ns) : 0;
  s.evictions = st.evictions;
  s.forced_publishes = st.forced_publishes;
  if (const sched::Scheduler* sc = engine.scheduler()) {
    s.h2d_bytes = sc->stats().h2d_bytes;
    s.d2h_bytes = sc->stats().d2h_bytes;
    s.publish_slips = sc->stats().publish_slips;
    s.cycle_overruns = sc->stats().cycle_overruns;
  }
  s.full_kv_bytes = peak_full_kv_bytes;
  // Full mode keeps every page hot: its "hot pool" is the full KV.
  s.hot_pool_bytes = engine.scheduler() ? engine.hot_pool_bytes() : peak_full_kv_bytes;
  return s;
}

std::string FormatSummary(const RunSummary& s) {
  std::string out = absl::StrFormat(
      "mode %s: %d tokens in %d steps, %.3f s, %.2f tok/s\n"
      "TPOT p50/p99: boundary steps %.3f/%.3f ms (%d steps), other steps %.3f/%.3f ms\n",
      s.mode, s.tokens, s.steps, s.wall_s, s.tok_per_s, s.tpot_boundary_p50_ms,
      s.tpot_boundary_p99_ms, s.boundary_steps, s.tpot_other_p50_ms, s.tpot_other_p99_ms);
  if (s.full_mode) {
    out += "Level-2 coverage by the resident set: 1 (full mode: every chunk resident)\n";
  } else if (s.coverage_measured) {
    out += absl::StrFormat(
        "Level-2 coverage by the resident set: %.4f (TPOT includes the full-attention shadow "
        "decode that measures it)\n",
        s.coverage);
  } else {
    out += "Level-2 coverage: not measured (--measure-coverage on)\n";
  }
  out += absl::StrFormat(
      "cycles %d, %.0f B moved per cycle (H2D %d B, D2H %d B in all)\n"
      "stall fraction %.4f, evictions %d, publish slips %d, cycle overruns %d, forced publishes "
      "%d\n"
      "hot pool %d B vs full KV %d B (%.3fx)\n",
      s.cycles, s.bytes_per_cycle, s.h2d_bytes, s.d2h_bytes, s.stall_fraction, s.evictions,
      s.publish_slips, s.cycle_overruns, s.forced_publishes, s.hot_pool_bytes, s.full_kv_bytes,
      s.full_kv_bytes > 0 ? static_cast<double>(s.hot_pool_bytes) /
                                static_cast<double>(s.full_kv_bytes)
                          : 0.0);
  return out;
}

nlohmann::json SummaryToJson(const RunSummary& s) {
  nlohmann::json j;
  j["mode"] = s.mode;
  j["steps"] = s.steps;
  j["tokens"] = s.tokens;
  j["wall_s"] = s.wall_s;
  j["tok_per_s"] = s.tok_per_s;
  j["tpot_ms"] = {{"boundary", {{"p50", s.tpot_boundary_p50_ms}, {"p99", s.tpot_boundary_p99_ms},
                                {"steps", s.boundary_steps}}},
                  {"other", {{"p50", s.tpot_other_p50_ms}, {"p99", s.tpot_other_p99_ms}}}};
  j["coverage"] = s.coverage_measured ? nlohmann::json(s.coverage) : nlohmann::json(nullptr);
  j["cycles"] = s.cycles;
  j["bytes_per_cycle"] = s.bytes_per_cycle;
  j["h2d_bytes"] = s.h2d_bytes;
  j["d2h_bytes"] = s.d2h_bytes;
  j["stall_fraction"] = s.stall_fraction;
  j["evictions"] = s.evictions;
  j["publish_slips"] = s.publish_slips;
  j["cycle_overruns"] = s.cycle_overruns;
  j["forced_publishes"] = s.forced_publishes;
  j["hot_pool_bytes"] = s.hot_pool_bytes;
  j["full_kv_bytes"] = s.full_kv_bytes;
  return j;
}

}  // namespace fm::cli
