#include "tools/tune/tune_sweep.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "tools/tune/tune_synth.h"
#include "tools/tune/tune_trace.h"

namespace fm::tune {
namespace {

// 64K-token prompt (256 pages), 768 steps, Scores every 32 steps, 12 planted pages changing every
// 96 steps: small enough to replay in well under a second.
SynthTuneOptions SmallOptions() {
  SynthTuneOptions o;
  o.prompt_tokens = 65'536;
  o.steps = 768;
  o.score_interval_steps = 32;
  o.planted_pages = 12;
  o.phase_steps = 96;
  o.picks_per_step = 128;
  return o;
}

class TuneSweepTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(::testing::TempDir() + "/tune_small.fmtrace");
    ASSERT_TRUE(WriteSynthTuneTrace(SmallOptions(), *path_).ok());
  }
  static void TearDownTestSuite() {
    std::remove(path_->c_str());
    delete path_;
  }
  static std::string* path_;
};
std::string* TuneSweepTest::path_ = nullptr;

const TuneResult* Find(const std::vector<TuneResult>& rs, int32_t tau, double thr, int32_t kmax) {
  for (const TuneResult& r : rs) {
    if (r.setting.tau_steps == tau && r.setting.threshold == thr && r.setting.kmax_pages == kmax) {
      return &r;
    }
  }
  return nullptr;
}

TEST_F(TuneSweepTest, TraceReadsBackBoundariesAndPicks) {
  absl::StatusOr<TuneTrace> t = ReadTuneTrace(*path_);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->score_interval_steps, 32);
  ASSERT_EQ(t->requests.size(), 1u);
  const RequestTrace& r = t->requests[0];
  EXPECT_EQ(r.boundaries.size(), 768u / 32);
  EXPECT_EQ(r.boundaries[0].n_chunks, 65'536 / 4);
  EXPECT_EQ(r.boundaries[0].layers, 3);
  EXPECT_EQ(r.picks.steps.size(), 768u);
  EXPECT_EQ(r.picks.total_picks, 768 * 128);
  EXPECT_EQ(t->slot_bytes, 784'896);
}

TEST_F(TuneSweepTest, OnlyTheSettingsThatHoldThePlantedPagesCoverEveryPick) {
  absl::StatusOr<TuneTrace> t = ReadTuneTrace(*path_);
  ASSERT_TRUE(t.ok()) << t.status();
  TuneGrid grid;
  grid.taus = {32, 64};
  grid.thresholds = {0.4, 0.5, 0.6};
  grid.kmaxes = {40, 48, 64, 96};
  grid.tails = {2048};
  absl::StatusOr<std::vector<TuneResult>> rs = RunSweep(*t, grid, LinkModel{});
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), grid.size());
  // 33 forced tail pages + 12 planted pages fit in 48 and 64, not in 40.
  EXPECT_DOUBLE_EQ(Find(*rs, 32, 0.5, 48)->coverage, 1.0);
  EXPECT_DOUBLE_EQ(Find(*rs, 32, 0.5, 64)->coverage, 1.0);
  EXPECT_LT(Find(*rs, 32, 0.5, 40)->coverage, 1.0);
  // At 0.4 the 6 decoys (density 64) outrank the planted pages (32): 48 is too few, 64 is not.
  EXPECT_LT(Find(*rs, 32, 0.4, 48)->coverage, 1.0);
  EXPECT_DOUBLE_EQ(Find(*rs, 32, 0.4, 64)->coverage, 1.0);
  // At 0.6 no planted chunk counts.
  EXPECT_LT(Find(*rs, 32, 0.6, 96)->coverage, 0.9);
  // τ = 64 does not divide the 96-step phase: stale for 32 steps after every other change.
  EXPECT_LT(Find(*rs, 64, 0.5, 64)->coverage, 1.0);
  EXPECT_GT(Find(*rs, 64, 0.5, 64)->coverage, 0.9);

  const std::optional<size_t> best = Recommend(*rs, 1.0);
  ASSERT_TRUE(best.has_value());
  const TuneSetting& s = (*rs)[*best].setting;
  EXPECT_EQ(s.tau_steps, 32);
  EXPECT_DOUBLE_EQ(s.threshold, 0.5);
  EXPECT_EQ(s.kmax_pages, 48);
  EXPECT_DOUBLE_EQ((*rs)[*best].stall_ms_per_step, 0.0);
  EXPECT_GT((*rs)[*best].bytes_per_step, 0.0);
  EXPECT_EQ((*rs)[*best].hot_pool_bytes, 63 * 784'896);  // ceil(50 x 1.25) slots
}

TEST_F(TuneSweepTest, TauMustBeAMultipleOfTheScoresInterval) {
  absl::StatusOr<TuneTrace> t = ReadTuneTrace(*path_);
  ASSERT_TRUE(t.ok());
  TuneGrid grid;
  grid.taus = {48};
  absl::Status s = RunSweep(*t, grid, LinkModel{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--tau 48"), std::string::npos) << s;
  grid.taus = {32};
  grid.thresholds = {1.5};
  EXPECT_NE(RunSweep(*t, grid, LinkModel{}).status().message().find("--threshold"),
            std::string::npos);
}

TEST_F(TuneSweepTest, CorruptOrMissingTraceGivesAnErrorNamingThePath) {
  std::string bytes;
  {
    std::ifstream in(*path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string bad = ::testing::TempDir() + "/tune_corrupt.fmtrace";
  bytes[bytes.size() / 2] ^= 0x5A;
  {
    std::ofstream out(bad, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  absl::Status s = ReadTuneTrace(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(bad), std::string::npos) << s;
  std::remove(bad.c_str());
  EXPECT_FALSE(ReadTuneTrace(bad).ok());
}

TEST(TuneParetoTest, FrontierKeepsOnlyUndominatedSettings) {
  std::vector<TuneResult> rs(4);
  rs[0].bytes_per_step = 10, rs[0].coverage = 0.9;
  rs[1].bytes_per_step = 20, rs[1].coverage = 0.8;  // dominated by 0
  rs[2].bytes_per_step = 30, rs[2].coverage = 0.99;
  rs[3].bytes_per_step = 5, rs[3].coverage = 0.5;
  MarkPareto(&rs);
  EXPECT_TRUE(rs[0].pareto);
  EXPECT_FALSE(rs[1].pareto);
  EXPECT_TRUE(rs[2].pareto);
  EXPECT_TRUE(rs[3].pareto);
  EXPECT_EQ(Recommend(rs, 0.95), std::optional<size_t>(2));
  EXPECT_EQ(Recommend(rs, 0.85), std::optional<size_t>(0));
  EXPECT_EQ(Recommend(rs, 0.999), std::nullopt);
  rs[0].hot_pool_bytes = 100;  // at equal stall, a smaller hot pool wins over fewer bytes
  rs[2].hot_pool_bytes = 50;
  EXPECT_EQ(Recommend(rs, 0.85), std::optional<size_t>(2));
  rs[2].stall_ms_per_step = 1.0;  // but a stall loses to any stall-free setting
  EXPECT_EQ(Recommend(rs, 0.85), std::optional<size_t>(0));
}

TEST(TuneSynthTest, RejectsBadOptions) {
  SynthTuneOptions o = SmallOptions();
  o.planted_pages = 1000;
  absl::Status s = WriteSynthTuneTrace(o, ::testing::TempDir() + "/never.fmtrace");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("planted_pages"), std::string::npos);
}

}  // namespace
}  // namespace fm::tune
