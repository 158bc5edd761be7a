// `trace synth` -> `trace export` -> JSON checked with nlohmann-json: the tracks, the X/b/e/C/M
// invariants Perfetto relies on, and `trace info` on intact and damaged files.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "traces/chrome_export.h"
#include "traces/synth.h"
#include "traces/trace_info.h"

namespace fm::traces {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

std::vector<char> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

SynthOptions SmallSynth(const std::string& name) {
  SynthOptions o;
  o.out_path = TempPath(name);
  o.requests = 2;
  o.pages = 256;
  o.layers = 21;
  o.steps = 400;
  o.kmax_pages = 64;
  return o;
}

Json ParseFile(const std::string& path) {
  std::ifstream in(path);
  return Json::parse(in);  // throws on invalid JSON, failing the test with the parser's message
}

TEST(TraceSynthTest, SameSeedSameBytesOtherSeedOtherBytes) {
  SynthOptions a = SmallSynth("synth_a.fmtrace");
  SynthOptions b = SmallSynth("synth_b.fmtrace");
  SynthOptions c = SmallSynth("synth_c.fmtrace");
  c.seed = 2;
  ASSERT_TRUE(WriteSynthTrace(a).ok());
  ASSERT_TRUE(WriteSynthTrace(b).ok());
  ASSERT_TRUE(WriteSynthTrace(c).ok());
  EXPECT_EQ(ReadBytes(a.out_path), ReadBytes(b.out_path));
  EXPECT_NE(ReadBytes(a.out_path), ReadBytes(c.out_path));
}

TEST(TraceSynthTest, RejectsOutOfRangeOptionsNamingTheField) {
  SynthOptions o = SmallSynth("bad.fmtrace");
  o.tau_steps = 4;
  auto st = WriteSynthTrace(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("tau_steps 4"));
}

TEST(TraceInfoTest, SummarisesASynthTraceAndItsDrops) {
  SynthOptions o = SmallSynth("info.fmtrace");
  auto sum = WriteSynthTrace(o);
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto info = ReadTraceInfo(o.out_path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->integrity.ok()) << info->integrity;
  EXPECT_TRUE(info->has_trailer);
  ASSERT_TRUE(info->hello.has_value());
  EXPECT_EQ(info->hello->csa_layers, 21);
  EXPECT_EQ(info->events, sum->events);
  EXPECT_EQ(info->dropped_records, sum->dropped_records);
  EXPECT_GT(info->dropped_records, 0u);
  EXPECT_EQ(info->frames_by_kind[static_cast<int>(FrameKind::kSnapshot)], sum->snapshots);
  for (int k = 1; k <= kMaxEventKind; ++k) {
    EXPECT_GT(info->events_by_kind[k], 0u) << "synth emits every kind; missing " << EventKindName(static_cast<uint8_t>(k));
  }
  EXPECT_GE(info->index_entries, 1u);
  EXPECT_EQ(info->bad_payloads, 0u);
  std::string text = FormatTraceInfo(*info);
  EXPECT_THAT(text, HasSubstr("integrity:   OK"));
  EXPECT_THAT(text, HasSubstr("records dropped"));
}

TEST(TraceInfoTest, ReportsDamageWithTheOffsetAndTheIntactPrefix) {
  SynthOptions o = SmallSynth("info_src.fmtrace");
  ASSERT_TRUE(WriteSynthTrace(o).ok());
  std::vector<char> b = ReadBytes(o.out_path);
  std::string cut = TempPath("info_cut.fmtrace");
  {
    std::ofstream out(cut, std::ios::binary);
    out.write(b.data(), static_cast<std::streamsize>(b.size() * 2 / 3));
  }
  auto info = ReadTraceInfo(cut);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->integrity.code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(info->has_trailer);
  EXPECT_GT(info->frames, 0u);
  EXPECT_THAT(FormatTraceInfo(*info), HasSubstr("DAMAGED"));
  EXPECT_THAT(FormatTraceInfo(*info), HasSubstr("byte offset"));
}

class ChromeExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SynthOptions o = SmallSynth("export.fmtrace");
    ASSERT_TRUE(WriteSynthTrace(o).ok());
    trace_ = new std::string(o.out_path);
  }
  static void TearDownTestSuite() { delete trace_; }
  static std::string* trace_;
};
std::string* ChromeExportTest::trace_ = nullptr;

TEST_F(ChromeExportTest, HasTheExpectedTracksAndRecordKinds) {
  std::string out = TempPath("export.json");
  ExportOptions opt;
  opt.git_sha = "abc123";
  auto r = ExportChromeJson(*trace_, out, opt);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->input_status.ok());
  EXPECT_FALSE(r->truncated);
  EXPECT_GT(r->pages_skipped, 0u);
  Json j = ParseFile(out);
  EXPECT_EQ(j["displayTimeUnit"], "ns");
  EXPECT_EQ(j["otherData"]["schema_version"], 1);
  EXPECT_EQ(j["otherData"]["git_sha"], "abc123");
  EXPECT_EQ(j["otherData"]["config"]["csa_layers"], 21);
  const Json& ev = j["traceEvents"];
  ASSERT_TRUE(ev.is_array());
  EXPECT_EQ(ev.size(), r->trace_events);
  std::map<std::pair<int, int>, std::string> thread_names;
  std::set<std::string> process_names;
  std::set<std::string> counters;
  std::map<std::string, int> by_ph;
  for (const Json& e : ev) {
    std::string ph = e["ph"];
    ++by_ph[ph];
    if (ph == "M" && e["name"] == "thread_name") thread_names[{e["pid"], e["tid"]}] = e["args"]["name"];
    if (ph == "M" && e["name"] == "process_name") process_names.insert(e["args"]["name"].get<std::string>());
    if (ph == "C") counters.insert(e["name"].get<std::string>());
  }
  EXPECT_EQ(process_names, (std::set<std::string>{"host", "gpu", "requests"}));
  auto name_of = [&](int pid, int tid) { return thread_names[std::make_pair(pid, tid)]; };
  EXPECT_EQ(name_of(kHostPid, 1), "engine");
  EXPECT_EQ(name_of(kHostPid, 2), "planner");
  EXPECT_EQ(name_of(kGpuPid, 3), "compute");
  EXPECT_EQ(name_of(kGpuPid, 4), "h2d");
  EXPECT_EQ(name_of(kRequestPid, 6), "request 1");
  EXPECT_EQ(name_of(kHostPid, kStepsTid), "decode steps");
  for (const char* c : {"tokens_count", "h2d_bytes", "page_hits_count", "page_misses_count",
                        "tpot_ns", "hot_slots_used_count", "dropped_records"}) {
    EXPECT_TRUE(counters.contains(c)) << c;
  }
  for (const char* ph : {"X", "C", "i", "b", "e", "M"}) EXPECT_GT(by_ph[ph], 0) << ph;
}

TEST_F(ChromeExportTest, EveryXHasADurationSlicesNestPerTrackAndAsyncPairsMatch) {
  std::string out = TempPath("export_inv.json");
  ASSERT_TRUE(ExportChromeJson(*trace_, out, ExportOptions{}).ok());
  Json j = ParseFile(out);
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> slices;
  std::map<std::string, double> open_b;
  int pairs = 0;
  for (const Json& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "X") {
      ASSERT_TRUE(e.contains("dur")) << e.dump();
      ASSERT_GE(e["dur"].get<double>(), 0.0);
      slices[{e["pid"], e["tid"]}].push_back({e["ts"].get<double>(), e["dur"].get<double>()});
    } else if (ph == "b") {
      ASSERT_FALSE(open_b.contains(e["id"])) << "duplicate async begin " << e.dump();
      open_b[e["id"]] = e["ts"];
    } else if (ph == "e") {
      auto it = open_b.find(e["id"]);
      ASSERT_NE(it, open_b.end()) << "async end without begin " << e.dump();
      EXPECT_GE(e["ts"].get<double>(), it->second);
      open_b.erase(it);
      ++pairs;
    }
  }
  EXPECT_TRUE(open_b.empty());
  EXPECT_GT(pairs, 0);
  // Nesting: on each track, a slice either lies inside the enclosing open slice or starts after
  // it ends (1 ns of slack for the µs rounding).
  constexpr double kEps = 0.0011;
  for (auto& [track, v] : slices) {
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) {
      return a.first < b.first || (a.first == b.first && a.second > b.second);
    });
    std::vector<double> stack;  // end times
    for (const auto& [ts, dur] : v) {
      while (!stack.empty() && ts >= stack.back() - kEps) stack.pop_back();
      if (!stack.empty()) {
        ASSERT_LE(ts + dur, stack.back() + kEps)
            << "overlapping slices on pid " << track.first << " tid " << track.second << " at " << ts;
      }
      stack.push_back(ts + dur);
    }
  }
}

TEST_F(ChromeExportTest, SizeCapTruncatesButKeepsTheJsonValid) {
  std::string out = TempPath("export_cap.json");
  ExportOptions opt;
  opt.max_output_bytes = 20000;
  auto r = ExportChromeJson(*trace_, out, opt);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->truncated);
  Json j = ParseFile(out);
  EXPECT_EQ(j["otherData"]["truncated"], true);
  EXPECT_LT(r->output_bytes, 40000u);
}

TEST_F(ChromeExportTest, TimeRangeKeepsOnlyEventsInside) {
  std::string out = TempPath("export_range.json");
  ExportOptions opt;
  opt.from_ns = 2'000'000'000;
  opt.to_ns = 3'000'000'000;
  opt.max_output_bytes = 1000;  // ignored: a range was given
  auto r = ExportChromeJson(*trace_, out, opt);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->truncated);
  Json j = ParseFile(out);
  int timed = 0;
  for (const Json& e : j["traceEvents"]) {
    if (e["ph"] == "M" || e["ph"] == "b" || e["ph"] == "e") continue;
    ++timed;
    double ts = e["ts"];
    double start = e["ph"] == "X" && e["cat"] == "step" ? ts + e["dur"].get<double>() : ts;
    EXPECT_GE(start, 2'000'000.0 - 1e-3);
    EXPECT_LT(start, 3'000'000.0);
  }
  EXPECT_GT(timed, 0);
}

TEST_F(ChromeExportTest, DamagedInputExportsTheIntactPrefixAsValidJson) {
  std::vector<char> b = ReadBytes(*trace_);
  std::string cut = TempPath("export_cut.fmtrace");
  {
    std::ofstream o(cut, std::ios::binary);
    o.write(b.data(), static_cast<std::streamsize>(b.size() / 2));
  }
  std::string out = TempPath("export_cut.json");
  auto r = ExportChromeJson(cut, out, ExportOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->input_status.code(), absl::StatusCode::kDataLoss);
  Json j = ParseFile(out);
  EXPECT_GT(j["traceEvents"].size(), 10u);
}

}  // namespace
}  // namespace fm::traces
