#include "tools/tune/tune_report.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_format.h"
#include "tools/plot/svg_plot.h"

namespace fm::tune {
namespace {

std::vector<size_t> ByBytes(const std::vector<TuneResult>& rs) {
  std::vector<size_t> order(rs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (rs[a].bytes_per_step != rs[b].bytes_per_step)
      return rs[a].bytes_per_step < rs[b].bytes_per_step;
    return rs[a].coverage > rs[b].coverage;
  });
  return order;
}

std::string KmaxText(int32_t k) { return k == 0 ? "rule" : absl::StrFormat("%d", k); }

}  // namespace

std::string FormatTuneTable(const std::vector<TuneResult>& rs, bool only_pareto) {
  std::string o = absl::StrFormat("%5s %6s %5s %6s | %9s %9s %10s %10s %10s %10s %1s\n", "tau",
                                  "thr", "kmax", "tail", "coverage", "pg/cycle", "MB/cycle",
                                  "MB/step", "stall ms/s", "hot MiB", "P");
  for (size_t i : ByBytes(rs)) {
    const TuneResult& r = rs[i];
    if (only_pareto && !r.pareto) continue;
    absl::StrAppendFormat(&o, "%5d %6.3f %5s %6d | %9.4f %9.2f %10.2f %10.3f %10.3f %10.1f %1s\n",
                          r.setting.tau_steps, r.setting.threshold, KmaxText(r.setting.kmax_pages),
                          r.setting.tail_chunks, r.coverage, r.pages_per_cycle,
                          r.bytes_per_cycle / 1e6, r.bytes_per_step / 1e6, r.stall_ms_per_step,
                          r.hot_pool_bytes / 1048576.0, r.pareto ? "*" : "");
  }
  return o;
}

nlohmann::json TuneToJson(const std::vector<TuneResult>& rs, std::optional<size_t> recommended,
                          double target_coverage) {
  nlohmann::json settings = nlohmann::json::array();
  nlohmann::json pareto = nlohmann::json::array();
  for (size_t i = 0; i < rs.size(); ++i) {
    const TuneResult& r = rs[i];
    settings.push_back({{"tau_steps", r.setting.tau_steps},
                        {"threshold", r.setting.threshold},
                        {"kmax_pages", r.setting.kmax_pages},
                        {"tail_chunks", r.setting.tail_chunks},
                        {"picks", r.picks},
                        {"covered", r.covered},
                        {"coverage", r.coverage},
                        {"cycles", r.cycles},
                        {"pages_per_cycle", r.pages_per_cycle},
                        {"bytes_per_cycle", r.bytes_per_cycle},
                        {"bytes_per_step", r.bytes_per_step},
                        {"initial_fill_bytes", r.initial_fill_bytes},
                        {"stall_ms_per_step", r.stall_ms_per_step},
                        {"max_stall_ms", r.max_stall_ms},
                        {"hot_pool_bytes", r.hot_pool_bytes},
                        {"pareto", r.pareto}});
    if (r.pareto) pareto.push_back(i);
  }
  nlohmann::json j;
  j["settings"] = std::move(settings);
  j["pareto"] = std::move(pareto);
  j["target_coverage"] = target_coverage;
  j["recommended"] = recommended ? nlohmann::json(*recommended) : nlohmann::json(nullptr);
  return j;
}

absl::Status WriteParetoPlot(const std::vector<TuneResult>& rs, std::optional<size_t> recommended,
                             const std::string& path) {
  plot::PlotSpec p;
  p.title = "flashmem tune: coverage vs bytes moved";
  p.x_label = "MB moved per decode step, all requests (log scale; 0 not shown)";
  p.log10_x = true;
  p.y_label = "coverage of Level-2 picks";
  plot::Series all{"all settings", {}, {}, /*lines=*/false, /*markers=*/true};
  plot::Series front{"Pareto frontier", {}, {}, true, true};
  plot::Series rec{"recommended", {}, {}, false, true};
  for (size_t i : ByBytes(rs)) {
    const TuneResult& r = rs[i];
    all.x.push_back(r.bytes_per_step / 1e6);
    all.y.push_back(r.coverage);
    if (r.pareto) {
      front.x.push_back(r.bytes_per_step / 1e6);
      front.y.push_back(r.coverage);
    }
  }
  if (recommended) {
    const TuneResult& r = rs[*recommended];
    rec.x.push_back(r.bytes_per_step / 1e6);
    rec.y.push_back(r.coverage);
    rec.label = absl::StrFormat("tau %d thr %.2f kmax %s", r.setting.tau_steps, r.setting.threshold,
                                KmaxText(r.setting.kmax_pages));
  }
  p.series = {all, front};
  if (recommended) p.series.push_back(rec);
  p.width_px = 820;
  return plot::WriteSvg(p, path);
}

}  // namespace fm::tune
