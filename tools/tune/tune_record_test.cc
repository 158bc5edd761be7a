// A run recorded by the engine (EngineConfig::record_scores, runtime/engine/engine_record.cc) is
// what `flashmem tune` replays: on the synthetic "tiny" checkpoint in lsa mode, the trace holds a
// Scores snapshot at every cycle boundary of each request and the Level-2 picks of every decode
// step, and a replay whose KMAX covers every page covers every pick.

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/engine/engine.h"
#include "runtime/engine/trace_session.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"
#include "scheduler/sim_clock.h"
#include "tools/tune/tune_sweep.h"
#include "tools/tune/tune_trace.h"

namespace fm::tune {
namespace {

constexpr int32_t kTau = 8;
constexpr int64_t kPromptTokens = 199;
constexpr int64_t kDecode = 40;
constexpr int kRequests = 2;

class TuneRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt::SynthOptions o;
    o.preset = "tiny";
    o.seed = 13;
    ASSERT_TRUE(rt::WriteSynthCheckpoint(o, dir_.path() / "fp8").ok());
    rt::ModelOptions options;
    options.n_threads = 2;
    auto model = rt::Model::Load(dir_.path() / "fp8", options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    auto ck = rt::Checkpoint::Open(dir_.path() / "fp8");
    ASSERT_TRUE(ck.ok()) << ck.status();
    auto mi = rt::MemoryIndexer::FromNative(**ck, rt::DefaultTargetCsaIndices((*ck)->config()), {});
    ASSERT_TRUE(mi.ok()) << mi.status();
    indexer_ = std::move(*mi);
  }

  static rt::EngineConfig Config() {
    rt::EngineConfig c;
    c.mode = rt::SelectionMode::kLsa;
    c.chunks_per_page = 4;
    c.params.tau_steps = kTau;
    c.params.publish_delay_steps = 4;
    c.params.policy.kmax_pages = 8;
    c.params.policy.tail_chunks = 4;
    c.max_requests = kRequests;
    c.max_context_tokens = 512;
    c.prefill_chunk_tokens = 64;
    c.record_scores = true;
    return c;
  }

  rt::testing::ScratchDir dir_{"tune_record_test"};
  std::unique_ptr<rt::Model> model_;
  std::unique_ptr<rt::MemoryIndexer> indexer_;
  sched::VirtualClock clock_;
};

TEST_F(TuneRecordTest, RecordedRunReplaysEveryBoundaryAndStepWithFullCoverageAtFullKmax) {
  auto engine = rt::Engine::Create(model_.get(), indexer_.get(), Config(), &clock_);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::string path = (dir_.path() / "run.fmtrace").string();
  auto session = rt::TraceSession::Start(path, (*engine)->TraceHello());
  ASSERT_TRUE(session.ok()) << session.status();
  (*engine)->SetTraceSession(session->get());
  std::mt19937 rng(5);
  for (int i = 0; i < kRequests; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(kPromptTokens + 1));
    for (int32_t& t : prompt) {
      t = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().vocab_size));
    }
    ASSERT_TRUE((*engine)->AddRequest(prompt, 0, kDecode, 1).ok());
  }
  while ((*engine)->active_requests() > 0) ASSERT_TRUE((*engine)->Step().ok());
  (*engine)->SetTraceSession(nullptr);
  ASSERT_TRUE((*session)->Stop().ok());
  // Every cycle ran at its boundary: the recorded cadence is exactly every τ steps.
  ASSERT_EQ((*engine)->stats().forced_publishes, 0);
  ASSERT_EQ((*engine)->stats().exhausted_retries, 0);

  absl::StatusOr<TuneTrace> trace = ReadTuneTrace(path);
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->geometry.chunks_per_page, 4);
  EXPECT_EQ(trace->score_interval_steps, kTau);
  ASSERT_EQ(trace->requests.size(), static_cast<size_t>(kRequests));
  int64_t picks = 0;
  for (const RequestTrace& r : trace->requests) {
    // Steps count from the request's first boundary minus τ (the scheduler's phase): its first
    // decode is some step s0 in [0, τ), then one Labels frame per step.
    ASSERT_EQ(r.picks.steps.size(), static_cast<size_t>(kDecode));
    const int64_t s0 = r.picks.steps.front();
    ASSERT_GE(s0, 0);
    ASSERT_LT(s0, kTau);
    for (int64_t i = 0; i < kDecode; ++i) {
      EXPECT_EQ(r.picks.steps[static_cast<size_t>(i)], s0 + i);
    }
    // The admission cycle at step 0, then one boundary per τ until the last decode.
    ASSERT_EQ(r.boundaries.size(), static_cast<size_t>((s0 + kDecode - 1) / kTau + 1));
    for (size_t i = 0; i < r.boundaries.size(); ++i) {
      const ScoreSnapshot& b = r.boundaries[i];
      EXPECT_EQ(b.step, static_cast<int64_t>(i) * kTau);
      const int64_t decoded = i == 0 ? 0 : b.step - s0;  // tokens decoded before this cycle
      EXPECT_EQ(b.n_chunks, (kPromptTokens + decoded) / 4) << "step " << b.step;
      EXPECT_EQ(b.layers, indexer_->n_targets());
      EXPECT_EQ(b.sigma_q.size(), static_cast<size_t>(b.n_chunks * b.layers));
    }
    picks += r.picks.total_picks;
  }
  EXPECT_EQ(picks, (*engine)->stats().picks);  // the shadow's picks, all of them

  TuneGrid grid;
  grid.taus = {kTau, 2 * kTau};
  grid.thresholds = {0.5};
  grid.kmaxes = {1, 64};  // 64 pages hold every context here (<= 240 tokens: 15 pages)
  grid.tails = {4};
  absl::StatusOr<std::vector<TuneResult>> results = RunSweep(*trace, grid, LinkModel{});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), grid.size());
  for (const TuneResult& res : *results) {
    EXPECT_EQ(res.picks, picks);
    if (res.setting.kmax_pages == 64) {
      EXPECT_EQ(res.coverage, 1.0) << "tau " << res.setting.tau_steps;
    } else {
      EXPECT_LT(res.coverage, 1.0) << "tau " << res.setting.tau_steps;
    }
  }
}

TEST_F(TuneRecordTest, RecordScoresOutsideLsaModeIsRejected) {
  rt::EngineConfig c = Config();
  c.mode = rt::SelectionMode::kRecency;
  auto engine = rt::Engine::Create(model_.get(), indexer_.get(), c, &clock_);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("record_scores"), std::string::npos);
}

}  // namespace
}  // namespace fm::tune
