// `flashmem tune TRACE [--tau 32,64] [--threshold 0.4,0.5] [--kmax 64,96] [--tail 2048]
//  [--target-coverage 0.95] [--json] [--plot FILE.svg] [--all]`: replays a recorded .fmtrace
// (Scores + Level-2 picks, tools/tune/tune_trace.h) through the scheduler's Level-1 policy for a
// grid of settings and reports coverage, pages/bytes moved, predicted stall and hot-pool size,
// the Pareto frontier and the cheapest setting reaching the target coverage.
// `flashmem tune --synth-trace OUT [--synth-...]` writes a synthetic trace with a planted page set.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tools/cli/commands.h"
#include "tools/tune/tune_report.h"
#include "tools/tune/tune_sweep.h"
#include "tools/tune/tune_synth.h"
#include "tools/tune/tune_trace.h"

namespace fm::cli {
namespace {

struct TuneFlags {
  std::string trace;
  std::string taus = "32,64,128,256";
  std::string thresholds = "0.3,0.4,0.5,0.6,0.7";
  std::string kmaxes = "64,96,128,192,256";
  std::string tails = "2048";
  double target_coverage = 0.95;
  bool json = false;
  bool all = false;
  std::string plot;
  tune::LinkModel link;
  std::string synth_out;
  tune::SynthTuneOptions synth;
};

// Parses a comma-separated list; false (with *bad set) on the first value that is not a number.
template <typename T>
bool ParseList(const std::string& text, std::vector<T>* out, std::string* bad) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    T v{};
    bool ok;
    if constexpr (std::is_floating_point_v<T>) {
      ok = absl::SimpleAtod(part, &v);
    } else {
      ok = absl::SimpleAtoi(part, &v);
    }
    if (!ok) {
      *bad = std::string(part);
      return false;
    }
    out->push_back(v);
  }
  return true;
}

int RunTune(TuneFlags& f) {
  if (!f.synth_out.empty()) {
    if (absl::Status s = tune::WriteSynthTuneTrace(f.synth, f.synth_out); !s.ok()) {
      std::fprintf(stderr, "flashmem tune: --synth-trace=%s: %s\n", f.synth_out.c_str(),
                   std::string(s.message()).c_str());
      return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    std::printf("wrote %s: %lld steps at %lld-token prompt, %d planted pages\n",
                f.synth_out.c_str(), static_cast<long long>(f.synth.steps),
                static_cast<long long>(f.synth.prompt_tokens), f.synth.planted_pages);
    return 0;
  }
  if (f.trace.empty()) {
    std::fprintf(stderr, "flashmem tune: give a TRACE (.fmtrace) or --synth-trace OUT\n");
    return 2;
  }
  tune::TuneGrid grid;
  std::string bad;
  const char* flag = "--tau";
  bool ok = ParseList(f.taus, &grid.taus, &bad);
  if (ok) {
    flag = "--threshold";
    ok = ParseList(f.thresholds, &grid.thresholds, &bad);
  }
  if (ok) {
    flag = "--kmax";
    ok = ParseList(f.kmaxes, &grid.kmaxes, &bad);
  }
  if (ok) {
    flag = "--tail";
    ok = ParseList(f.tails, &grid.tails, &bad);
  }
  if (!ok) {
    std::fprintf(stderr, "flashmem tune: %s: '%s' is not a number\n", flag, bad.c_str());
    return 2;
  }
  if (!(f.target_coverage > 0 && f.target_coverage <= 1)) {
    std::fprintf(stderr, "flashmem tune: --target-coverage=%g, expected in (0, 1]\n",
                 f.target_coverage);
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<tune::TuneTrace> trace = tune::ReadTuneTrace(f.trace);
  if (!trace.ok()) {
    std::fprintf(stderr, "flashmem tune: %s\n", std::string(trace.status().message()).c_str());
    return 2;
  }
  const auto t1 = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<tune::TuneResult>> results = tune::RunSweep(*trace, grid, f.link);
  if (!results.ok()) {
    std::fprintf(stderr, "flashmem tune: %s: %s\n", f.trace.c_str(),
                 std::string(results.status().message()).c_str());
    return 2;
  }
  const auto t2 = std::chrono::steady_clock::now();
  const std::optional<size_t> best = tune::Recommend(*results, f.target_coverage);
  if (f.json) {
    nlohmann::json j = tune::TuneToJson(*results, best, f.target_coverage);
    j["read_seconds"] = std::chrono::duration<double>(t1 - t0).count();
    j["sweep_seconds"] = std::chrono::duration<double>(t2 - t1).count();
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf(
        "%s: %zu request(s), Scores every %lld steps; %zu settings; link %.0f GB/s, TPOT "
        "%.1f ms, Δ %d\n",
        f.trace.c_str(), trace->requests.size(),
        static_cast<long long>(trace->score_interval_steps), results->size(), f.link.link_gbps,
        f.link.tpot_ms, f.link.publish_delay_steps);
    std::printf("%s\n", f.all ? "all settings (* = Pareto frontier):" : "Pareto frontier:");
    std::fputs(tune::FormatTuneTable(*results, !f.all).c_str(), stdout);
    if (best) {
      const tune::TuneResult& r = (*results)[*best];
      std::printf(
          "\nrecommended for coverage >= %.3f: --tau %d --threshold %g --kmax %d "
          "--tail %lld (coverage %.4f, %.3f MB/step, hot pool %.1f MiB)\n",
          f.target_coverage, r.setting.tau_steps, r.setting.threshold, r.setting.kmax_pages,
          static_cast<long long>(r.setting.tail_chunks), r.coverage, r.bytes_per_step / 1e6,
          r.hot_pool_bytes / 1048576.0);
    } else {
      std::printf("\nno setting reaches coverage %.3f; widen --kmax or lower --threshold\n",
                  f.target_coverage);
    }
    std::printf("read %.2f s, sweep %.2f s\n", std::chrono::duration<double>(t1 - t0).count(),
                std::chrono::duration<double>(t2 - t1).count());
  }
  if (!f.plot.empty()) {
    if (absl::Status s = tune::WriteParetoPlot(*results, best, f.plot); !s.ok()) {
      std::fprintf(stderr, "flashmem tune: --plot=%s: %s\n", f.plot.c_str(),
                   std::string(s.message()).c_str());
      return 1;
    }
  }
  return best || f.json ? 0 : 1;
}

void AddTuneCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<TuneFlags>();
  CLI::App* cmd = root.add_subcommand(
      "tune", "Replay a recorded trace through the Level-1 policy for a grid of τ/threshold/KMAX");
  cmd->add_option("trace", f->trace, ".fmtrace with Scores (kind 10) and Level-2 picks (kind 11)");
  cmd->add_option("--tau", f->taus, "τ values (multiples of the trace's Scores interval)")
      ->capture_default_str();
  cmd->add_option("--threshold", f->thresholds, "thresholds in (0, 1)")->capture_default_str();
  cmd->add_option("--kmax", f->kmaxes, "KMAX pages (0 = rule 96/192/384)")->capture_default_str();
  cmd->add_option("--tail", f->tails, "recency tail in chunks")->capture_default_str();
  cmd->add_option("--target-coverage", f->target_coverage, "recommend the cheapest reaching it")
      ->capture_default_str();
  cmd->add_option("--link-gbps", f->link.link_gbps, "host-to-GPU GB/s")->capture_default_str();
  cmd->add_option("--tpot-ms", f->link.tpot_ms, "time per output token")->capture_default_str();
  cmd->add_option("--publish-delay", f->link.publish_delay_steps, "Δ: steps the copies may take")
      ->capture_default_str();
  cmd->add_option("--headroom", f->link.headroom, "hot-pool headroom")->capture_default_str();
  cmd->add_flag("--json", f->json, "print JSON");
  cmd->add_flag("--all", f->all, "print every setting, not only the Pareto frontier");
  cmd->add_option("--plot", f->plot, "write the Pareto plot (SVG) here");
  cmd->add_option("--synth-trace", f->synth_out, "write a synthetic trace with planted pages");
  cmd->add_option("--synth-prompt-tokens", f->synth.prompt_tokens, "synthetic prompt length")
      ->capture_default_str();
  cmd->add_option("--synth-steps", f->synth.steps, "synthetic decode steps")->capture_default_str();
  cmd->add_option("--synth-interval", f->synth.score_interval_steps, "Scores every N steps")
      ->capture_default_str();
  cmd->add_option("--synth-planted", f->synth.planted_pages, "planted pages")
      ->capture_default_str();
  cmd->add_option("--synth-phase", f->synth.phase_steps, "steps between planted-set changes")
      ->capture_default_str();
  cmd->add_option("--synth-requests", f->synth.requests, "requests")->capture_default_str();
  cmd->add_option("--seed", f->synth.seed, "synthetic seed")->capture_default_str();
  cmd->callback([f, action] { *action = [f] { return RunTune(*f); }; });
}

}  // namespace
FM_REGISTER_COMMAND(AddTuneCommand);
}  // namespace fm::cli
