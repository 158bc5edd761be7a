// `flashmem trace export|info|synth`: offline tools for .fmtrace files (DESIGN.md §7).
//   flashmem trace export FILE.fmtrace -o FILE.json [--from-ms A --to-ms B] [--max-mb N]
//   flashmem trace info FILE.fmtrace
//   flashmem trace synth --out FILE [--requests 2 --pages 4096 --layers 21 --steps N ...]

#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "tools/cli/commands.h"
#include "traces/chrome_export.h"
#include "traces/synth.h"
#include "traces/trace_info.h"

namespace fm::cli {
namespace {

struct TraceArgs {
  std::string export_in;
  std::string export_out;
  double from_ms = -1;
  double to_ms = -1;
  uint64_t max_mb = 100;
  std::string git_sha;
  std::string info_in;
  traces::SynthOptions synth;
};

int PrintError(const absl::Status& st) {
  std::fprintf(stderr, "flashmem trace: %s\n", std::string(st.message()).c_str());
  return st.code() == absl::StatusCode::kInvalidArgument || st.code() == absl::StatusCode::kNotFound
             ? 2
             : 1;
}

int RunExport(const TraceArgs& a) {
  traces::ExportOptions opt;
  if (a.from_ms >= 0) opt.from_ns = static_cast<int64_t>(a.from_ms * 1e6);
  if (a.to_ms >= 0) opt.to_ns = static_cast<int64_t>(a.to_ms * 1e6);
  if (a.from_ms >= 0 && a.to_ms >= 0 && a.to_ms <= a.from_ms) {
    return PrintError(absl::InvalidArgumentError(absl::StrFormat(
        "--to-ms %g must be greater than --from-ms %g", a.to_ms, a.from_ms)));
  }
  opt.max_output_bytes = a.max_mb << 20;
  opt.git_sha = a.git_sha;
  absl::StatusOr<traces::ExportResult> r = traces::ExportChromeJson(a.export_in, a.export_out, opt);
  if (!r.ok()) return PrintError(r.status());
  std::printf("%s: %llu trace events, %llu bytes%s\n", a.export_out.c_str(),
              static_cast<unsigned long long>(r->trace_events),
              static_cast<unsigned long long>(r->output_bytes),
              r->truncated ? " (truncated at --max-mb; give --from-ms/--to-ms for a window)" : "");
  if (!r->input_status.ok()) {
    std::fprintf(stderr, "flashmem trace export: input damaged, exported the intact part: %s\n",
                 std::string(r->input_status.message()).c_str());
    return 1;
  }
  return 0;
}

int RunInfo(const TraceArgs& a) {
  absl::StatusOr<traces::TraceInfo> info = traces::ReadTraceInfo(a.info_in);
  if (!info.ok()) return PrintError(info.status());
  std::fputs(traces::FormatTraceInfo(*info).c_str(), stdout);
  return info->integrity.ok() ? 0 : 1;
}

int RunSynth(const TraceArgs& a) {
  absl::StatusOr<traces::SynthSummary> s = traces::WriteSynthTrace(a.synth);
  if (!s.ok()) return PrintError(s.status());
  std::printf("%s: %llu frames, %llu events, %llu copies, %llu snapshots, %llu bytes\n",
              a.synth.out_path.c_str(), static_cast<unsigned long long>(s->frames),
              static_cast<unsigned long long>(s->events), static_cast<unsigned long long>(s->copies),
              static_cast<unsigned long long>(s->snapshots),
              static_cast<unsigned long long>(s->bytes));
  return 0;
}

void AddTraceCommand(CLI::App& root, Action* action) {
  auto a = std::make_shared<TraceArgs>();  // shared with the callbacks, outlives parsing
  TraceArgs& args = *a;
  CLI::App* trace = root.add_subcommand("trace", "Inspect, convert and synthesise .fmtrace files");
  trace->require_subcommand(1);

  CLI::App* exp = trace->add_subcommand("export", "Convert a .fmtrace to Chrome Trace / Perfetto JSON");
  exp->add_option("file", args.export_in, "input .fmtrace")->required();
  exp->add_option("-o,--out", args.export_out, "output .json")->required();
  exp->add_option("--from-ms", args.from_ms, "window start, ms since the session epoch");
  exp->add_option("--to-ms", args.to_ms, "window end, ms since the session epoch");
  exp->add_option("--max-mb", args.max_mb, "output cap without a window (default 100)");
  exp->add_option("--git-sha", args.git_sha, "recorded in otherData");
  exp->callback([a, action] { *action = [a] { return RunExport(*a); }; });

  CLI::App* info = trace->add_subcommand("info", "Summary, drop counts and integrity of a .fmtrace");
  info->add_option("file", args.info_in, "input .fmtrace")->required();
  info->callback([a, action] { *action = [a] { return RunInfo(*a); }; });

  CLI::App* synth = trace->add_subcommand("synth", "Write a realistic synthetic .fmtrace");
  synth->add_option("--out", args.synth.out_path, "output .fmtrace")->required();
  synth->add_option("--requests", args.synth.requests, "concurrent requests (default 2)");
  synth->add_option("--pages", args.synth.pages, "pages per request (default 4096)");
  synth->add_option("--layers", args.synth.layers, "CSA layers (default 21)");
  synth->add_option("--steps", args.synth.steps, "decode steps (default 2000)");
  synth->add_option("--tau", args.synth.tau_steps, "cycle length in steps (default 64)");
  synth->add_option("--delta", args.synth.delta_steps, "publish delay in steps (default 8)");
  synth->add_option("--kmax", args.synth.kmax_pages, "pages selected per cycle (default 384)");
  synth->add_option("--seed", args.synth.seed, "PRNG seed (default 1)");
  synth->callback([a, action] { *action = [a] { return RunSynth(*a); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddTraceCommand);

}  // namespace fm::cli
