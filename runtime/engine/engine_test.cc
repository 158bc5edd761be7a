// Engine tests on the synthetic "tiny" checkpoint with 4-chunk (16-token) pages, τ = 8, Δ = 4 and
// a virtual link clock: with KMAX covering every page, LSA decoding through the engine (scheduler,
// copies, publishes, live tables) is bit-identical to full mode; requests join and leave with the
// scheduler's invariants holding after every step and every published cell holding its bytes;
// every selection mode decodes; small KMAX leaves some Level-2 picks uncovered.

#include "runtime/engine/engine.h"

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/engine/trace_session.h"
#include "runtime/weights/checkpoint.h"
#include "traces/payloads.h"
#include "traces/trace_file_reader.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"
#include "runtime/weights/tiny_checkpoint_test_util.h"

namespace fm::rt {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TinyCheckpoint("engine_test", 13, "fp8");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ModelOptions options;
    options.n_threads = 2;
    auto model = Model::Load(dir_->path(), options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    auto ck = Checkpoint::Open(dir_->path());
    ASSERT_TRUE(ck.ok()) << ck.status();
    auto mi = MemoryIndexer::FromNative(**ck, DefaultTargetCsaIndices((*ck)->config()), {});
    ASSERT_TRUE(mi.ok()) << mi.status();
    indexer_ = std::move(*mi);
  }

  static EngineConfig Config(SelectionMode mode, int32_t kmax, int32_t max_requests) {
    EngineConfig c;
    c.mode = mode;
    c.chunks_per_page = 4;
    c.params.tau_steps = 8;
    c.params.publish_delay_steps = 4;
    c.params.policy.kmax_pages = kmax;
    c.params.policy.tail_chunks = 4;
    c.params.h2d_bytes_per_step = 4 * 4 * 584 * 8;  // a few slots per step: copies span steps
    c.max_requests = max_requests;
    c.max_context_tokens = 512;
    c.prefill_chunk_tokens = 64;
    c.measure_coverage = true;
    c.virtual_step_ns = 20'000;  // shorter than a copy: some publishes stall
    return c;
  }

  std::unique_ptr<Engine> Make(const EngineConfig& c) {
    auto e = Engine::Create(model_.get(), indexer_.get(), c, &clock_);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }

  std::vector<int32_t> Prompt(int64_t n, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& v : t) {
      v = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().vocab_size));
    }
    return t;
  }

  static testing::TinyCheckpoint* dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<MemoryIndexer> indexer_;
  sched::VirtualClock clock_;
};
testing::TinyCheckpoint* EngineTest::dir_ = nullptr;

TEST_F(EngineTest, LsaWithKmaxCoveringEveryPageMatchesFullModeTokenForToken) {
  auto full = Make(Config(SelectionMode::kFull, 0, 1));
  auto lsa = Make(Config(SelectionMode::kLsa, 1000, 1));
  ASSERT_TRUE(full && lsa);
  const std::vector<int32_t> prompt = Prompt(70, 21);
  auto a = full->AddRequest(prompt, 0, 40, 1);
  auto b = lsa->AddRequest(prompt, 0, 40, 1);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (int step = 0; step < 40; ++step) {
    ASSERT_TRUE(full->Step().ok());
    auto rec = lsa->Step();
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_EQ(*full->LastLogits(*a), *lsa->LastLogits(*b)) << "step " << step;
    EXPECT_EQ(rec->picks, rec->picks_resident) << "step " << step;
  }
  EXPECT_EQ(*full->Generated(*a), *lsa->Generated(*b));
  EXPECT_EQ(lsa->Generated(*b)->size(), 40u);
  EXPECT_GE(lsa->stats().cycles, 5);  // admission + a boundary every 8 steps
  EXPECT_GT(lsa->stats().bytes_verified, 0);
  EXPECT_EQ(lsa->active_requests(), 0);
}

TEST_F(EngineTest, RequestsJoinAndLeaveWithInvariantsHeldEveryStep) {
  auto e = Make(Config(SelectionMode::kLsa, 3, 3));
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->AddRequest(Prompt(90, 1), 0, 12, 1).ok());
  ASSERT_TRUE(e->AddRequest(Prompt(130, 2), 0, 30, 2).ok());
  ASSERT_TRUE(e->AddRequest({}, 200, 20, 3).ok());  // synthetic context
  EXPECT_TRUE(absl::IsUnavailable(e->AddRequest(Prompt(40, 4), 0, 5, 4).status()));
  int joined_late = 0;
  for (int step = 0; step < 60 && e->active_requests() > 0; ++step) {
    auto rec = e->Step();
    ASSERT_TRUE(rec.ok()) << "step " << step << ": " << rec.status();
    ASSERT_TRUE(e->scheduler()->CheckInvariants().ok())
        << "step " << step << ": " << e->scheduler()->CheckInvariants();
    EXPECT_EQ(e->scheduler()->request_count(), e->active_requests());
    if (rec->finished > 0 && joined_late < 2) {
      auto id = e->AddRequest(Prompt(100 + 10 * joined_late, 7 + joined_late), 0, 10, 9);
      ASSERT_TRUE(id.ok()) << id.status();
      ++joined_late;
      ASSERT_TRUE(e->scheduler()->CheckInvariants().ok());
    }
  }
  EXPECT_EQ(joined_late, 2);
  EXPECT_EQ(e->active_requests(), 0);
  EXPECT_EQ(e->scheduler()->request_count(), 0);
  EXPECT_EQ(e->stats().tokens, 12 + 30 + 20 + 10 + 10);
  EXPECT_GT(e->stats().cycle_h2d_bytes, 0);
  EXPECT_GT(e->stats().bytes_verified, 0);
  EXPECT_GT(e->stats().picks, 0);
  EXPECT_LT(e->stats().picks_resident, e->stats().picks);  // KMAX 3 misses some picks
  EXPECT_GT(e->stats().stall_ns, 0);  // 20 µs steps are shorter than some copies
}

TEST_F(EngineTest, EveryPagedModeDecodesWithinTheReserve) {
  for (SelectionMode mode : {SelectionMode::kLsa, SelectionMode::kRecency, SelectionMode::kRandom,
                             SelectionMode::kOracle}) {
    SCOPED_TRACE(std::string(SelectionModeName(mode)));
    auto e = Make(Config(mode, 3, 2));
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->AddRequest(Prompt(150, 5), 0, 24, 1).ok());
    ASSERT_TRUE(e->AddRequest(Prompt(120, 6), 0, 24, 2).ok());
    for (int step = 0; step < 24; ++step) {
      auto rec = e->Step();
      ASSERT_TRUE(rec.ok()) << rec.status();
      EXPECT_LE(rec->picks_resident, rec->picks);
    }
    EXPECT_EQ(e->stats().tokens, 48);
    EXPECT_GE(e->stats().cycles, 2 + 2 * 2);
    EXPECT_LT(e->hot_pool_bytes(), int64_t{2} * (512 / 16 + 2) * e->geometry().slot_bytes());
  }
}

TEST_F(EngineTest, TraceFileHoldsTheEngineEvents) {
  const std::string path = (dir_->path() / "run.fmtrace").string();
  auto session = TraceSession::Start(path);
  ASSERT_TRUE(session.ok()) << session.status();
  auto e = Make(Config(SelectionMode::kLsa, 3, 2));
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->AddRequest(Prompt(150, 5), 0, 20, 1).ok());
  ASSERT_TRUE(e->AddRequest(Prompt(100, 6), 0, 10, 2).ok());
  for (int step = 0; step < 20; ++step) ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE((*session)->Stop().ok());

  std::set<uint8_t> kinds;
  int64_t steps = 0, timed_copies = 0;
  std::vector<traces::Event> events;
  absl::Status s = traces::ForEachFrame(path, [&](const traces::FrameView& f) {
    if (f.kind != static_cast<uint16_t>(traces::FrameKind::kEvents)) return absl::OkStatus();
    events.clear();
    absl::Status d = traces::DecodeEvents(f.payload, &events);
    for (const traces::Event& ev : events) {
      kinds.insert(ev.kind);
      if (ev.kind == static_cast<uint8_t>(traces::EventKind::kStep)) ++steps;
      if (ev.kind == static_cast<uint8_t>(traces::EventKind::kCopyDone) && ev.b > 0) ++timed_copies;
    }
    return d;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(steps, 20);
  EXPECT_GT(timed_copies, 0);  // CopyDone carries the modelled link latency
  for (traces::EventKind k : {traces::EventKind::kStep, traces::EventKind::kSelect,
                              traces::EventKind::kCopyIssue, traces::EventKind::kCopyDone,
                              traces::EventKind::kPage, traces::EventKind::kPublish,
                              traces::EventKind::kCounter, traces::EventKind::kRequest}) {
    EXPECT_TRUE(kinds.count(static_cast<uint8_t>(k))) << "kind " << static_cast<int>(k);
  }
}

TEST(EngineModeTest, ParsesEveryModeNameAndRejectsOthers) {
  for (const char* name : {"full", "lsa", "recency", "random", "oracle"}) {
    auto m = ParseSelectionMode(name);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(SelectionModeName(*m), name);
  }
  EXPECT_FALSE(ParseSelectionMode("topk").ok());
}

}  // namespace
}  // namespace fm::rt
