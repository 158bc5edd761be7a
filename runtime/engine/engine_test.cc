// Engine tests on the synthetic "tiny" checkpoint with 4-chunk (16-token) pages, τ = 8, Δ = 4 and
// a virtual link clock: with KMAX covering every page, LSA decoding through the engine (scheduler,
// copies, publishes, live tables) is bit-identical to full mode; requests join and leave with the
// scheduler's invariants holding after every step and every published cell holding its bytes;
// every selection mode decodes; small KMAX leaves some Level-2 picks uncovered; the hot pool holds
// the model's real entries (a corrupted cell fails the next publish); oracle mode, fed by a full
// run decoding ahead, covers the picks that recency misses.

#include "runtime/engine/engine.h"

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/engine/engine_oracle.h"
#include "runtime/engine/trace_session.h"
#include "runtime/weights/checkpoint.h"
#include "traces/payloads.h"
#include "traces/trace_file_reader.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"
#include "runtime/lsa/tiny_model_test_util.h"

namespace fm::rt {
namespace {

class EngineTest : public testing::TinyModelIndexerTest<EngineTest> {
 public:
  static constexpr const char* kCheckpointTag = "engine_test";
  static constexpr uint64_t kCheckpointSeed = 13;

 protected:
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

  // Two engines, made from `ca` and `cb`, each given the same 70-token prompt (seed `prompt_seed`)
  // to decode 40 tokens, for step-by-step comparisons. Both start empty, so the request has the
  // same `id` in each.
  void MakeTwins(const EngineConfig& ca, const EngineConfig& cb, uint32_t prompt_seed,
                 std::unique_ptr<Engine>* a, std::unique_ptr<Engine>* b, uint32_t* id) {
    *a = Make(ca);
    *b = Make(cb);
    ASSERT_TRUE(*a && *b);
    const std::vector<int32_t> prompt = Prompt(70, prompt_seed);
    auto id_a = (*a)->AddRequest(prompt, 0, 40, 1);
    auto id_b = (*b)->AddRequest(prompt, 0, 40, 1);
    ASSERT_TRUE(id_a.ok()) << id_a.status();
    ASSERT_TRUE(id_b.ok()) << id_b.status();
    ASSERT_EQ(*id_a, *id_b);
    *id = *id_a;
  }

  sched::VirtualClock clock_;
};

TEST_F(EngineTest, LsaWithKmaxCoveringEveryPageMatchesFullModeTokenForToken) {
  std::unique_ptr<Engine> full, lsa;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTwins(Config(SelectionMode::kFull, 0, 1),
                                    Config(SelectionMode::kLsa, 1000, 1), 21, &full, &lsa, &id));
  for (int step = 0; step < 40; ++step) {
    ASSERT_TRUE(full->Step().ok());
    auto rec = lsa->Step();
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_EQ(*full->LastLogits(id), *lsa->LastLogits(id)) << "step " << step;
    EXPECT_EQ(rec->picks, rec->picks_resident) << "step " << step;
  }
  EXPECT_EQ(*full->Generated(id), *lsa->Generated(id));
  EXPECT_EQ(lsa->Generated(id)->size(), 40u);
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

TEST_F(EngineTest, AutoKmaxSizesTheReserveByTheRuleNotByTheTableCap) {
  // 1-chunk (4-token) pages: 1000 tokens are 250 pages, far above the rule's 96-page floor, so the
  // hot pool must stay well below the full KV (the point of LSA) instead of being sized for every
  // page the table could hold.
  EngineConfig c = Config(SelectionMode::kRecency, /*kmax=*/0, /*max_requests=*/1);
  c.chunks_per_page = 1;
  c.max_context_tokens = 1000;
  c.params.tau_steps = 2;
  c.params.publish_delay_steps = 1;
  c.params.policy.tail_chunks = 4;
  c.measure_coverage = false;
  std::unique_ptr<Engine> e = Make(c);
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->AddRequest({}, 960, 8, 3).ok());
  const int64_t slot = e->geometry().slot_bytes();
  const int64_t rule = sched::DefaultKmaxPages(sched::PagesForTokens(1000, e->geometry()));
  ASSERT_EQ(rule, 96);
  // (KMAX + 2 tail/spare) x (1 + headroom) + 1 per request, + 1 shared.
  EXPECT_EQ(e->hot_pool_bytes(),
            (static_cast<int64_t>((rule + 2) * (1.0 + c.headroom)) + 1 + 1) * slot);
  EXPECT_LT(e->hot_pool_bytes(), e->full_kv_bytes());  // sized for the 250-page cap: 317 slots
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(e->scheduler()->CheckInvariants().ok());
}

TEST_F(EngineTest, DecodeReadsTheHotPoolAndACorruptedCellFailsTheNextPublish) {
  // `clean` decodes the same request untouched, the reference for e's logits.
  std::unique_ptr<Engine> e, clean;
  uint32_t id = 0;
  const EngineConfig c = Config(SelectionMode::kRecency, 1000, 1);
  ASSERT_NO_FATAL_FAILURE(MakeTwins(c, c, 31, &e, &clean, &id));
  // The slots hold the model's real entries (the tiny model's fp8 codec: 72 B), not a fixed 584.
  EXPECT_EQ(e->geometry().kv_entry_bytes, model_->CompressedEntryBytes());
  EXPECT_EQ(e->geometry().kv_entry_bytes, 72);
  ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(clean->Step().ok());
  ASSERT_EQ(*e->LastLogits(id), *clean->LastLogits(id));
  auto table = e->scheduler()->LiveTable(sched::RequestId{id});
  ASSERT_TRUE(table.ok() && table->size() >= 2);
  // Page 0 stays resident in its slot (KMAX covers every page): give its cells page 1's bytes,
  // valid entries of other chunks. The first publish is at step 12 (boundary 8 + Δ 4), so the
  // next steps decode through the poisoned cells: Level 2 picks 8 of 17 chunks on each CSA layer
  // and some pick falls in page 0, so the logits move, proving attention reads the pool.
  const sched::PageSlot p0 = (*table)[0], p1 = (*table)[1];
  ASSERT_EQ(p0.page.v, 0);
  ASSERT_EQ(p1.page.v, 1);
  const int64_t slot = e->geometry().slot_bytes();
  absl::Span<std::byte> hot = e->hot_pool_for_testing();
  std::copy_n(hot.begin() + sched::SlotOffsetBytes(p1.slot, e->geometry()), slot,
              hot.begin() + sched::SlotOffsetBytes(p0.slot, e->geometry()));
  ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(clean->Step().ok());
  EXPECT_NE(*e->LastLogits(id), *clean->LastLogits(id));
  absl::Status failed;
  for (int step = 0; step < 20 && failed.ok(); ++step) failed = e->Step().status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal) << failed;
  EXPECT_NE(failed.message().find("chunk 0 layer 1 in slot " + std::to_string(p0.slot.v)),
            std::string::npos)
      << failed;
}

// Oracle mode counts the picks of the steps each table serves, from a full run decoding ahead.
// The tiny model's random weights spread each step's 16 picks (top-8 on 2 CSA layers) over the
// whole context, so a window must be short for "KMAX below all pages, above what the picks need"
// to exist: τ = 2, Δ = 1 (a table serves 2 steps, ~20-25 of the 31 pages) and KMAX 27 with a
// 1-page tail. The oracle then covers every pick (a miss would also make the request's tokens
// depart from the full run's), recency does not, and two runs decide identically.
TEST_F(EngineTest, OracleCoversTheTrueNextPicksDeterministically) {
  auto run = [&](SelectionMode mode, std::vector<int32_t>* tokens) {
    EngineConfig c = Config(mode, 27, 1);
    c.params.tau_steps = 2;
    c.params.publish_delay_steps = 1;
    c.params.policy.tail_chunks = 4;
    auto e = Make(c);
    EXPECT_TRUE(e);
    if (!e) return 0.0;
    auto id = e->AddRequest(Prompt(480, 41), 0, 30, 3);
    EXPECT_TRUE(id.ok()) << id.status();
    while (e->active_requests() > 0) {
      auto rec = e->Step();
      EXPECT_TRUE(rec.ok()) << rec.status();
      if (!rec.ok()) return 0.0;
    }
    *tokens = *e->Generated(*id);
    EXPECT_GT(e->stats().picks, 0);
    return static_cast<double>(e->stats().picks_resident) / static_cast<double>(e->stats().picks);
  };
  std::vector<int32_t> t1, t2, t3;
  const double oracle = run(SelectionMode::kOracle, &t1);
  const double again = run(SelectionMode::kOracle, &t2);
  const double recency = run(SelectionMode::kRecency, &t3);
  EXPECT_EQ(oracle, again);
  EXPECT_EQ(t1, t2);
  EXPECT_GE(oracle, recency);
  EXPECT_GE(oracle, 0.95);
  EXPECT_LT(recency, 0.95);  // the KMAX really leaves picks out without the oracle
}

TEST_F(EngineTest, RunAheadOracleHoldsOnlyTheAskedWindowOfAFullRun) {
  const std::vector<int32_t> prompt = Prompt(100, 51);
  const auto head = absl::MakeConstSpan(prompt).first(99);
  const int64_t vocab = model_->config().vocab_size;
  auto twin = model_->NewSequence();
  ASSERT_TRUE(twin->Prefill(head, 0, nullptr).ok());
  RunAheadOracle oracle(std::move(twin), prompt.back(), 12, {1, 3}, vocab);
  ASSERT_TRUE(oracle.Advance(0, 5).ok());
  EXPECT_EQ(oracle.queued_steps(), 5);
  for (int64_t k = 1; k <= 10; ++k) {
    ASSERT_TRUE(oracle.Advance(k, k + 5).ok());
    EXPECT_EQ(oracle.queued_steps(), std::min<int64_t>(5, 12 - k));  // the budget ends at 12
  }
  std::vector<uint8_t> density(8);
  EXPECT_EQ(oracle.Density(9, 10, 4, &density).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(oracle.Density(10, 15, 4, &density).ok());  // capped at the budget
  int64_t picks = 0;
  for (uint8_t d : density) picks += d;
  EXPECT_GT(picks, 0);
  EXPECT_LE(picks, 2 * 16);  // 2 steps, each a union of at most 2 x top-8
  // Its tokens are a plain full-attention greedy decode of the same prompt.
  auto full = model_->NewSequence();
  ASSERT_TRUE(full->Prefill(head, 0, nullptr).ok());
  std::vector<float> logits(static_cast<size_t>(vocab));
  int32_t token = prompt.back();
  for (int32_t want : oracle.tokens()) {
    ASSERT_TRUE(full->Decode(token, logits.data()).ok());
    token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(token, want);
  }
  EXPECT_EQ(oracle.tokens().size(), 12u);
}

TEST_F(EngineTest, TraceFileHoldsTheEngineEvents) {
  const std::string path = (checkpoint_->path() / "run.fmtrace").string();
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
