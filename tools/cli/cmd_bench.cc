// `flashmem bench SUITE [--json] [--out FILE] [--min-time S] [--filter REGEX]`
// Runs the Google Benchmark functions whose names start with "SUITE/" (tools/bench/*_bench.cc) and
// reports every result as a ratio against the suite's baseline, measured in the same run: the first
// benchmark whose name contains "/baseline". Performance is measured, never asserted (DESIGN.md §11).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "tools/bench/bench_results.h"
#include "tools/bench/cpu_decode_bench.h"
#include "tools/bench/decode_bench.h"
#include "tools/bench/pcie_bench.h"
#include "tools/cli/commands.h"

namespace fm::cli {
namespace {

// Collects every iteration run (aggregates are skipped) and forwards to the console reporter.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  bool ReportContext(const Context& context) override {
    cpus_ = context.cpu_info.num_cpus;
    mhz_ = context.cpu_info.cycles_per_second / 1e6;
    return ConsoleReporter::ReportContext(context);
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      bench::BenchResult r;
      r.name = run.benchmark_name();
      r.real_time_ns = run.GetAdjustedRealTime() *
                       (run.time_unit == benchmark::kNanosecond    ? 1.0
                        : run.time_unit == benchmark::kMicrosecond ? 1e3
                        : run.time_unit == benchmark::kMillisecond ? 1e6
                                                                   : 1e9);
      r.iterations = run.iterations;
      for (const auto& [key, counter] : run.counters) r.counters[key] = counter.value;
      results_.push_back(std::move(r));
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::vector<bench::BenchResult>& results() { return results_; }
  int cpus() const { return cpus_; }
  double mhz() const { return mhz_; }

 private:
  std::vector<bench::BenchResult> results_;
  int cpus_ = 0;
  double mhz_ = 0;
};

struct BenchOptions {
  std::string suite;
  bool json = false;
  std::string out;
  double min_time_s = 0.2;
  std::string filter;
  std::string model;                               // cpu suite: checkpoint for decode tok/s
  std::vector<int64_t> contexts = {8192, 65536};   // cpu suite: decode context lengths
  int threads = 0;
  int64_t steps = 256;                             // decode suite: timed steps per mode
  int64_t batch = 1;                               // decode suite: request rows
};

// Writes the JSON document to --out and, with --json, to stdout.
int EmitJson(const BenchOptions& o, const nlohmann::json& doc) {
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    if (!f) {
      std::fprintf(stderr, "flashmem bench: cannot write --out %s\n", o.out.c_str());
      return 1;
    }
    f << doc.dump(2) << "\n";
  }
  if (o.json) std::cout << doc.dump(2) << "\n";
  return 0;
}

// A suite that needs hardware this machine lacks is skipped, not failed: exit 0 with a JSON
// document that says so and has no results.
int SkipSuite(const BenchOptions& o, const std::string& reason) {
  std::fprintf(o.json ? stderr : stdout, "flashmem bench %s: no CUDA device: skipped (%s)\n",
               o.suite.c_str(), reason.c_str());
  nlohmann::json doc = {{"suite", o.suite}, {"skipped", true}, {"skip_reason", reason},
                        {"results", nlohmann::json::array()}};
  return EmitJson(o, doc);
}

// `bench decode` is not a Google Benchmark suite: it drives the GPU decode executor itself and
// reports TPOT ratios, step-time percentiles, stall fraction and syncs per step (decode_bench.h).
int RunDecodeSuite(const BenchOptions& o) {
  if (std::string reason = bench::DecodeSkipReason(); !reason.empty()) return SkipSuite(o, reason);
  if (o.model.empty()) {
    std::fprintf(stderr, "flashmem bench decode: --model is required (a checkpoint directory)\n");
    return 2;
  }
  bench::DecodeBenchOptions d;
  d.model = o.model;
  d.contexts = o.contexts;
  d.steps = o.steps;
  d.batch = o.batch;
  auto doc = bench::RunDecodeBench(d);
  if (!doc.ok()) {
    std::fprintf(stderr, "flashmem bench decode: %s\n",
                 std::string(doc.status().message()).c_str());
    return 1;
  }
  if (int rc = EmitJson(o, *doc); rc != 0) return rc;
  if (!o.json) std::cout << doc->dump(2) << "\n";
  return 0;
}

int RunBench(const BenchOptions& o) {
  if (o.suite == "decode") return RunDecodeSuite(o);
  if (o.suite == "pcie") {
    if (std::string reason = bench::PcieSkipReason(); !reason.empty()) return SkipSuite(o, reason);
  }
  std::string filter = "^" + o.suite + "/" + (o.filter.empty() ? "" : ".*" + o.filter);
  std::vector<std::string> args = {"flashmem-bench", "--benchmark_filter=" + filter,
                                   "--benchmark_min_time=" + std::to_string(o.min_time_s)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
  if (!o.model.empty()) {
    if (o.suite != "cpu") {
      std::fprintf(stderr, "flashmem bench: --model applies to the cpu suite only (got %s)\n",
                   o.suite.c_str());
      return 2;
    }
    if (absl::Status s = bench::RegisterCpuDecodeBenchmarks(o.model, o.contexts, o.threads); !s.ok()) {
      std::fprintf(stderr, "flashmem bench: --model %s: %s\n", o.model.c_str(),
                   std::string(s.message()).c_str());
      return 1;
    }
  }
  CollectingReporter reporter;
  if (o.json) reporter.SetOutputStream(&std::cerr);  // keep stdout clean for the JSON document
  size_t ran = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "flashmem bench: no benchmark matches suite '%s' (filter %s)\n",
                 o.suite.c_str(), filter.c_str());
    return 2;
  }
  bench::ComputeRatios(reporter.results());
  nlohmann::json doc = bench::ResultsToJson(o.suite, reporter.results());
  doc["machine"] = {{"cpus", reporter.cpus()}, {"mhz", reporter.mhz()}};
  if (int rc = EmitJson(o, doc); rc != 0) return rc;
  if (!o.json) std::cout << bench::RatiosTable(reporter.results());
  return 0;
}

void AddBenchCommand(CLI::App& root, Action* action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = root.add_subcommand(
      "bench", "Run a benchmark suite (cpu, pcie, telemetry, planner, ...) and report ratios to its baseline");
  sub->add_option("suite", o->suite, "suite name: the prefix of the benchmark names")->required();
  sub->add_flag("--json", o->json, "print the results as JSON on stdout");
  sub->add_option("--out", o->out, "also write the JSON to this file");
  sub->add_option("--min-time", o->min_time_s, "minimum seconds per benchmark")
      ->check(CLI::PositiveNumber);
  sub->add_option("--filter", o->filter, "extra regex on the benchmark names within the suite");
  sub->add_option("--model", o->model,
                  "cpu suite: also measure decode tok/s of this checkpoint (e.g. a flash-slice); "
                  "decode suite: the checkpoint to decode on the GPU");
  sub->add_option("--contexts", o->contexts,
                  "cpu suite with --model, decode suite: context lengths")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  sub->add_option("--threads", o->threads, "CPU threads for --model (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--steps", o->steps, "decode suite: timed steps per mode")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  sub->add_option("--batch", o->batch, "decode suite: request rows per step")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  sub->callback([o, action] { *action = [o] { return RunBench(*o); }; });
}

FM_REGISTER_COMMAND(AddBenchCommand);

}  // namespace
}  // namespace fm::cli
