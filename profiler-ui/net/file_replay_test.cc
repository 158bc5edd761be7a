#include "profiler-ui/net/file_replay.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "profiler-ui/store/residency_cursor.h"
#include "profiler-ui/tests/synth_fixture.h"
#include "traces/synth.h"

namespace fm::ui {
namespace {

std::string TempPath(const char* name) { return ::testing::TempDir() + "/" + name; }

TEST(FileReplayTest, LoadsEveryFrameOfAFixtureFile) {
  testing::FixtureConfig cfg;
  const std::string path = TempPath("replay_ok.fmtrace");
  ASSERT_TRUE(testing::WriteFixtureFile(cfg, path).ok());
  Store s;
  const ReplayResult r = LoadTraceFile(path, &s);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.frames, testing::MakeFixtureFrames(cfg).size() + 1);  // + the Index frame
  EXPECT_EQ(s.steps().size(), cfg.steps);
  EXPECT_EQ(s.seq_gap_frames(), 0u);
  std::remove(path.c_str());
}

TEST(FileReplayTest, TruncatedFileKeepsTheFramesBeforeTheDamage) {
  testing::FixtureConfig cfg;
  const std::string path = TempPath("replay_cut.fmtrace");
  ASSERT_TRUE(testing::WriteFixtureFile(cfg, path).ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  bytes.resize(bytes.size() * 2 / 3);  // mid-frame, and without the trailer
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  Store s;
  const ReplayResult r = LoadTraceFile(path, &s);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
  EXPECT_GT(r.frames, 3u);
  EXPECT_TRUE(s.has_data());
  EXPECT_LT(s.steps().size(), cfg.steps);
  std::remove(path.c_str());
}

TEST(FileReplayTest, ReplaysTheTracesSyntheticRunCompletely) {
  traces::SynthOptions opt;
  opt.out_path = TempPath("replay_synth.fmtrace");
  opt.pages = 512;
  opt.steps = 600;
  absl::StatusOr<traces::SynthSummary> sum = traces::WriteSynthTrace(opt);
  ASSERT_TRUE(sum.ok()) << sum.status();
  Store s;
  const ReplayResult r = LoadTraceFile(opt.out_path, &s);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.frames, sum->frames + 1);  // + the Index frame the writer adds on Close
  EXPECT_EQ(s.decode_errors(), 0u);
  uint64_t copies = 0;
  for (const auto& [track, lane] : s.copies()) copies += lane.size();
  EXPECT_EQ(copies, sum->copies);
  EXPECT_EQ(s.unmatched_copies(), 0u);
  EXPECT_FALSE(s.keyframes().empty());
  EXPECT_EQ(s.request_ids().size(), opt.requests);
  EXPECT_GE(s.runtime_dropped_events(), sum->dropped_records);
  EXPECT_FALSE(s.steps().empty());
  ResidencyCursor cur;
  EXPECT_EQ(cur.Seek(s, s.request_ids().front(), s.last_ns()).pages(), opt.pages);
  std::remove(opt.out_path.c_str());
}

TEST(FileReplayTest, MissingFileIsNotFound) {
  Store s;
  EXPECT_EQ(LoadTraceFile(TempPath("no_such.fmtrace"), &s).status.code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fm::ui
