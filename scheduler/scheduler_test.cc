// Planner and publish-protocol unit tests on a tiny geometry (4 chunks per page, 32-byte slots) and
// a virtual clock.

#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/sim_link.h"

namespace fm::sched {
namespace {

GeometryConfig TinyGeometry() {
  GeometryConfig g;
  g.tokens_per_chunk = 4;
  g.chunks_per_page = 4;  // 16 tokens per page
  g.csa_layers = 1;
  g.kv_entry_bytes = 8;  // slot = 32 bytes
  return g;
}

SchedulerParams TinyParams() {
  SchedulerParams p;
  p.tau_steps = 8;
  p.publish_delay_steps = 2;
  p.policy.tail_chunks = 4;  // the last page
  p.policy.kmax_pages = 5;
  p.h2d_bytes_per_step = 1 << 20;
  return p;
}

std::vector<ColdPageId> Identity(int n) {
  std::vector<ColdPageId> v;
  for (int i = 0; i < n; ++i) v.push_back(ColdPageId{i});
  return v;
}

std::vector<int64_t> Pages(const std::vector<PageSlot>& v) {
  std::vector<int64_t> out;
  for (const PageSlot& e : v) out.push_back(e.page.v);
  return out;
}

struct Harness {
  explicit Harness(int32_t slots, SchedulerParams params = TinyParams(), int cold_pages = 64,
                   double headroom = 0.0) {
    SchedulerConfig c;
    c.geometry = TinyGeometry();
    c.slots_total = slots;
    c.kmax_max_pages = 16;
    c.headroom = headroom;
    c.params = params;
    cold.resize(static_cast<size_t>(cold_pages) * 32);
    hot.resize(static_cast<size_t>(slots) * 32);
    link = *SimLink::Create(SimLinkConfig{}, &clock, absl::MakeSpan(cold), absl::MakeSpan(hot));
    absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(c, link.get());
    EXPECT_TRUE(s.ok()) << s.status();
    sched = std::move(*s);
  }
  CyclePlan Admit(uint32_t id, int64_t chunks, const std::vector<uint8_t>& density,
                  int64_t step = 0) {
    AdmitSpec spec{RequestId{id}, step, chunks, Identity(64), density};
    absl::StatusOr<CyclePlan> plan = sched->Admit(spec);
    EXPECT_TRUE(plan.ok()) << plan.status();
    Publish(id, step);
    return plan.ok() ? *plan : CyclePlan{};
  }
  void Publish(uint32_t id, int64_t step) {
    PublishDecision d = sched->PublishDue(RequestId{id}, step);
    ASSERT_EQ(d.action, PublishAction::kPublish);
    int64_t stall = 0;
    for (const CopyTicket& t : d.wait_for) stall += *link->Wait(t);
    ASSERT_TRUE(sched->OnFlipped(RequestId{id}, d.generation, stall).ok());
    ASSERT_TRUE(sched->CheckInvariants().ok()) << sched->CheckInvariants();
  }
  CyclePlan Cycle(uint32_t id, int64_t step, int64_t chunks, const std::vector<uint8_t>& density) {
    CyclePlan plan;
    absl::Status s = sched->PlanCycle(CycleInput{RequestId{id}, step, chunks, density}, &plan);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(sched->ApplyCycle(plan).ok());
    EXPECT_TRUE(sched->CheckInvariants().ok()) << sched->CheckInvariants();
    return plan;
  }
  VirtualClock clock;
  std::vector<std::byte> cold, hot;
  std::unique_ptr<SimLink> link;
  std::unique_ptr<Scheduler> sched;
};

// 40 chunks = pages 0..9; the tail page 9 is forced; pages 2, 3, 4, 7 are the densest.
std::vector<uint8_t> Density40() { return {0, 0, 4, 4, 4, 1, 0, 4, 0, 0}; }

TEST(SchedulerTest, AdjacentColdPagesGetAdjacentSlotsAndCoalesce) {
  Harness h(16);
  const CyclePlan plan = h.Admit(1, 40, Density40());
  EXPECT_EQ(Pages(plan.fetches), (std::vector<int64_t>{2, 3, 4, 7, 9}));
  EXPECT_EQ(plan.fetches[0].slot, SlotId{0});
  EXPECT_EQ(plan.fetches[4].slot, SlotId{4});
  EXPECT_EQ(plan.h2d_ranges,
            (std::vector<CopyRange>{{2 * 32, 0, 96}, {7 * 32, 96, 32}, {9 * 32, 128, 32}}));
  EXPECT_EQ(plan.h2d_bytes, 5 * 32);
  // Tail page 10 (empty) and spare 11 get slots without a copy.
  EXPECT_EQ(Pages(plan.new_tail), (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(Pages(*h.sched->LiveTable(RequestId{1})),
            (std::vector<int64_t>{2, 3, 4, 7, 9, 10, 11}));
  EXPECT_EQ(h.sched->pool().info(SlotId{0}).state, SlotState::kHot);
  EXPECT_EQ(h.sched->pool().info(plan.new_tail[0].slot).state, SlotState::kDirty);
}

TEST(SchedulerTest, PartialTailPageIsFetchedAtAdmissionThenWrittenByDecode) {
  Harness h(16);
  // 38 chunks: page 9 holds chunks 36, 37 and is the tail; 10 is the spare.
  const CyclePlan plan = h.Admit(1, 38, Density40());
  EXPECT_EQ(plan.tail_page, PageIndex{9});
  EXPECT_EQ(Pages(plan.new_tail), (std::vector<int64_t>{10}));
  bool fetched_tail = false;
  for (const PageSlot& f : plan.fetches) fetched_tail |= f.page == PageIndex{9};
  EXPECT_TRUE(fetched_tail);
  const SlotId tail_slot{
      static_cast<int32_t>(h.sched->ResidentCell(RequestId{1}, ChunkIndex{36})->v / 4)};
  EXPECT_EQ(h.sched->pool().info(tail_slot).state, SlotState::kDirty);
}

TEST(SchedulerTest, PrefetchBytesPerStepStayWithinTheBudgetAndPublishSlipsUntilIssued) {
  SchedulerParams p = TinyParams();
  p.h2d_bytes_per_step = 64;  // two slots per step
  Harness h(32, p);
  h.Admit(1, 40, Density40());  // admission ignores the budget
  const int64_t b = *h.sched->Phase(RequestId{1}) == 0 ? 8 : *h.sched->Phase(RequestId{1});
  ASSERT_TRUE(h.sched->IsBoundary(RequestId{1}, b));
  // Move the dense pages: 0, 1, 5, 6 are new misses (4 slots = 128 bytes).
  const CyclePlan plan = h.Cycle(1, b, 40, {4, 4, 0, 0, 0, 4, 4, 0, 0, 0});
  EXPECT_EQ(plan.h2d_bytes, 4 * 32);
  IssueReport r1 = *h.sched->IssueCopies(b);
  EXPECT_EQ(r1.h2d_bytes, 64);
  EXPECT_TRUE(r1.plans_issued.empty());
  EXPECT_EQ(h.sched->PublishDue(RequestId{1}, b + 1).action, PublishAction::kNone) << "not due";
  IssueReport r2 = *h.sched->IssueCopies(b + 1);
  EXPECT_EQ(r2.h2d_bytes, 64);
  EXPECT_EQ(r2.plans_issued, (std::vector<RequestId>{RequestId{1}}));
  h.Publish(1, b + 2);
  EXPECT_EQ(h.sched->stats().publish_slips, 0);
}

TEST(SchedulerTest, PublishSlipsWhileCopiesAreUnissued) {
  SchedulerParams p = TinyParams();
  p.h2d_bytes_per_step = 32;  // one slot per step; four misses need four steps
  Harness h(32, p);
  h.Admit(1, 40, Density40());
  const int64_t b = h.sched->IsBoundary(RequestId{1}, 8) ? 8 : 16;
  h.Cycle(1, b, 40, {4, 4, 0, 0, 0, 4, 4, 0, 0, 0});
  for (int64_t step = b; step < b + 4; ++step) {
    ASSERT_TRUE(h.sched->IssueCopies(step).ok());
    if (step >= b + 2 && step < b + 3) {
      EXPECT_EQ(h.sched->PublishDue(RequestId{1}, step).action, PublishAction::kSlip);
    }
  }
  EXPECT_EQ(h.sched->stats().publish_slips, 1);
  h.Publish(1, b + 4);
}

TEST(SchedulerTest, FlipBeforeCopiesLandIsRefused) {
  Harness h(16);
  AdmitSpec spec{RequestId{1}, 0, 40, Identity(64), {}};
  const std::vector<uint8_t> d = Density40();
  spec.density = d;
  ASSERT_TRUE(h.sched->Admit(spec).ok());
  PublishDecision dec = h.sched->PublishDue(RequestId{1}, 0);
  ASSERT_EQ(dec.action, PublishAction::kPublish);
  absl::Status s = h.sched->OnFlipped(RequestId{1}, dec.generation, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(*h.sched->LiveGeneration(RequestId{1}), -1);
  EXPECT_EQ(h.sched->OnFlipped(RequestId{1}, 5, 0).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SchedulerTest, BoundaryWithAGenerationInFlightIsAnOverrun) {
  Harness h(16);
  h.Admit(1, 40, Density40());
  const int64_t b = h.sched->IsBoundary(RequestId{1}, 8) ? 8 : 16;
  const CyclePlan first = h.Cycle(1, b, 40, Density40());
  EXPECT_FALSE(first.overrun);
  CyclePlan second;
  ASSERT_TRUE(h.sched->PlanCycle(CycleInput{RequestId{1}, b + 8, 42, {}}, &second).ok());
  EXPECT_TRUE(second.overrun);
  ASSERT_TRUE(h.sched->ApplyCycle(second).ok());
  EXPECT_EQ(h.sched->stats().cycle_overruns, 1);
  EXPECT_TRUE(h.sched->IsBoundary(RequestId{1}, b + 16));
  EXPECT_FALSE(h.sched->IsBoundary(RequestId{1}, b + 15));
}

TEST(SchedulerTest, StalePlanIsRefused) {
  Harness h(16);
  h.Admit(1, 40, Density40());
  h.Admit(2, 40, Density40());
  CyclePlan plan;
  ASSERT_TRUE(h.sched->PlanCycle(CycleInput{RequestId{1}, 8, 40, Density40()}, &plan).ok());
  CyclePlan other;
  ASSERT_TRUE(h.sched->PlanCycle(CycleInput{RequestId{2}, 8, 40, Density40()}, &other).ok());
  ASSERT_TRUE(h.sched->ApplyCycle(other).ok());
  EXPECT_EQ(h.sched->ApplyCycle(plan).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SchedulerTest, DroppedPagesBecomeCachedOnlyAfterTheFlipAndAreEvictedOldestFirst) {
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 4;
  Harness h(7, p);  // 4 pages + tail + spare = 6 slots, one spare slot
  h.Admit(1, 40, {0, 0, 0, 0, 0, 4, 3, 2, 0, 0});  // pages 9 (tail), 5, 6, 7 + 10, 11
  EXPECT_EQ(h.sched->pool().free_count(), 1);
  const int64_t b = h.sched->IsBoundary(RequestId{1}, 8) ? 8 : 16;
  // Pages 5, 6, 7 drop out; 0, 1, 2 come in: one Free slot, then LRU victims.
  const CyclePlan plan = h.Cycle(1, b, 40, {4, 3, 2, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(plan.truncated.size(), 2u) << "5, 6, 7 are still live: only one slot is free";
  EXPECT_EQ(Pages(plan.fetches), (std::vector<int64_t>{0}));
  EXPECT_EQ(h.sched->pool().cached_count(), 0) << "nothing is Cached before the flip";
  ASSERT_TRUE(h.sched->IssueCopies(b).ok());
  h.Publish(1, b + 2);
  EXPECT_EQ(h.sched->pool().cached_count(), 3);
  // Next cycle: pages 1 and 2 need two victims: the LRU end is page 5 (unreferenced first).
  const CyclePlan next = h.Cycle(1, b + 8, 40, {4, 3, 2, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_EQ(next.evictions.size(), 2u);
  EXPECT_EQ(next.evictions[0].page, PageIndex{5});
  EXPECT_EQ(next.evictions[1].page, PageIndex{6});
  EXPECT_FALSE(h.sched->ResidentCell(RequestId{1}, ChunkIndex{5 * 4}).has_value());
  EXPECT_TRUE(h.sched->ResidentCell(RequestId{1}, ChunkIndex{7 * 4}).has_value());
}

TEST(SchedulerTest, CachedPageSelectedAgainIsAHitWithoutCopy) {
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 3;
  Harness h(16, p);
  h.Admit(1, 40, {0, 0, 0, 0, 0, 4, 3, 0, 0, 0});  // 9, 5, 6
  int64_t b = h.sched->IsBoundary(RequestId{1}, 8) ? 8 : 16;
  h.Cycle(1, b, 40, {4, 3, 0, 0, 0, 0, 0, 0, 0, 0});  // 9, 0, 1: pages 5, 6 -> Cached
  ASSERT_TRUE(h.sched->IssueCopies(b).ok());
  h.Publish(1, b + 2);
  const CyclePlan back = h.Cycle(1, b + 8, 40, {0, 0, 0, 0, 0, 4, 3, 0, 0, 0});
  EXPECT_TRUE(back.fetches.empty());
  EXPECT_EQ(back.h2d_bytes, 0);
  EXPECT_EQ(Pages(back.hits), (std::vector<int64_t>{10, 11, 9, 5, 6}));  // tail first
}

TEST(SchedulerTest, TruncationKeepsTheDensestMissingPages) {
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 2;
  Harness h(6, p);
  const std::vector<uint8_t> density = {1, 2, 3, 4, 5, 6, 0, 0, 0, 0};
  h.Admit(1, 40, density);  // pages 9 (tail), 5, 10, 11: two slots stay free
  p.policy.kmax_pages = 6;  // raised at run time: 4 more pages wanted, 2 slots to spare
  ASSERT_TRUE(h.sched->SetParams(p, std::nullopt).ok());
  const CyclePlan plan = h.Cycle(1, 8, 40, density);
  // Priority: 9 (tail), 5, 4, 3, 2, 1. 9 and 5 are hits; 4 and 3 fit; 2 and 1 are truncated.
  EXPECT_EQ(Pages(plan.fetches), (std::vector<int64_t>{3, 4}));
  std::vector<int64_t> truncated;
  for (PageIndex q : plan.truncated) truncated.push_back(q.v);
  EXPECT_EQ(truncated, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(h.sched->stats().pages_truncated, 2);
  EXPECT_TRUE(plan.evictions.empty()) << "live pages are never evicted";
}

TEST(SchedulerTest, AdmissionNamesBothNumbersWhenThePoolIsTooSmall) {
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 8;
  Harness h(9, p);
  AdmitSpec spec{RequestId{1}, 0, 40, Identity(64), {}};
  const std::vector<uint8_t> d = Density40();
  spec.density = d;
  absl::StatusOr<CyclePlan> plan = h.sched->Admit(spec);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(plan.status().message().find("= 10 slots"), std::string::npos) << plan.status();
  EXPECT_NE(plan.status().message().find("slots_total = 9"), std::string::npos) << plan.status();
}

TEST(SchedulerTest, AdmissionWaitsWhenReservedSlotsWouldExceedThePool) {
  Harness h(16, TinyParams(), 64, /*headroom=*/0.25);
  h.Admit(1, 40, Density40());  // (5 + 2) x 1.25 = 8.75 <= 16
  AdmitSpec spec{RequestId{2}, 0, 40, Identity(64), {}};
  const std::vector<uint8_t> d = Density40();
  spec.density = d;
  EXPECT_EQ(h.sched->Admit(spec).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(h.sched->Finish(RequestId{1}).ok());
  EXPECT_TRUE(h.sched->Admit(spec).ok());
}

TEST(SchedulerTest, PhasesAreStaggeredAcrossTau) {
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 1;
  Harness h(64, p);
  std::set<int32_t> phases;
  std::set<int64_t> first_boundary;
  for (uint32_t id = 1; id <= 8; ++id) {
    const std::vector<uint8_t> one_page = {0};
    absl::StatusOr<CyclePlan> plan =
        h.sched->Admit(AdmitSpec{RequestId{id}, 0, 4, Identity(64), one_page});
    ASSERT_TRUE(plan.ok()) << plan.status();
    phases.insert(*h.sched->Phase(RequestId{id}));
    for (int64_t step = 1; step <= 8; ++step) {
      if (h.sched->IsBoundary(RequestId{id}, step)) {
        first_boundary.insert(step);
        break;
      }
    }
  }
  EXPECT_EQ(phases.size(), 8u);  // all of [0, τ)
  EXPECT_EQ(first_boundary.size(), 8u);
  // The first two requests are far apart, not on neighbouring steps.
  const int32_t d = std::abs(*h.sched->Phase(RequestId{2}) - *h.sched->Phase(RequestId{1}));
  EXPECT_GE(std::min(d, 8 - d), 2);
}

TEST(SchedulerTest, KnobChangesApplyAtTheNextBoundaryAndPerRequest) {
  Harness h(64);
  h.Admit(1, 40, Density40());
  h.Admit(2, 40, Density40());
  SchedulerParams p = TinyParams();
  p.policy.kmax_pages = 3;
  p.tau_steps = 12;
  p.publish_delay_steps = 4;
  ASSERT_TRUE(h.sched->SetParams(p, std::nullopt).ok());
  SchedulerParams only2 = TinyParams();
  only2.policy.kmax_pages = 2;
  ASSERT_TRUE(h.sched->SetParams(only2, RequestId{2}).ok());
  const CyclePlan c1 = h.Cycle(1, 100, 40, Density40());
  EXPECT_EQ(c1.kmax_pages, 3);
  EXPECT_EQ(c1.selected.size(), 3u);
  EXPECT_EQ(c1.publish_step, 104);
  EXPECT_EQ(c1.next_boundary_step, 112);
  const CyclePlan c2 = h.Cycle(2, 100, 40, Density40());
  EXPECT_EQ(c2.selected.size(), 2u);
  EXPECT_EQ(c2.next_boundary_step, 108);
  // Out-of-range knobs are refused, naming the field.
  SchedulerParams bad = TinyParams();
  bad.policy.threshold = 1.5;
  EXPECT_EQ(h.sched->SetParams(bad, std::nullopt).code(), absl::StatusCode::kInvalidArgument);
  bad = TinyParams();
  bad.tau_steps = 16;  // 16 + 2 > 16 tokens per page
  absl::Status s = h.sched->SetParams(bad, std::nullopt);
  EXPECT_NE(s.message().find("tokens per page"), std::string::npos) << s;
  bad = TinyParams();
  bad.policy.kmax_pages = 17;
  EXPECT_EQ(h.sched->SetParams(bad, std::nullopt).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, FilledTailPageIsWrittenBackAndTheSpareRolls) {
  Harness h(16);
  h.Admit(1, 40, Density40());  // tail 10, spare 11, both Dirty
  // Decode fills page 10 (chunks 40..43) in the hot pool.
  const int32_t slot10 =
      static_cast<int32_t>(h.sched->ResidentCell(RequestId{1}, ChunkIndex{40})->v / 4);
  for (int i = 0; i < 32; ++i) h.hot[slot10 * 32 + i] = std::byte{0xAB};
  const CyclePlan plan = h.Cycle(1, 8, 45, {0, 0, 4, 4, 4, 1, 0, 4, 0, 0, 4, 1});
  EXPECT_EQ(plan.tail_page, PageIndex{11});
  EXPECT_EQ(Pages(plan.writebacks), (std::vector<int64_t>{10}));
  EXPECT_EQ(Pages(plan.new_tail), (std::vector<int64_t>{12}));
  EXPECT_EQ(plan.d2h_ranges, (std::vector<CopyRange>{{slot10 * 32, 10 * 32, 32}}));
  EXPECT_EQ(h.sched->pool().info(SlotId{slot10}).state, SlotState::kWritingBack);
  IssueReport r = *h.sched->IssueCopies(8);
  ASSERT_TRUE(r.d2h.valid());
  ASSERT_TRUE(h.link->Wait(r.d2h).ok());
  h.sched->Poll();
  EXPECT_EQ(h.sched->pool().info(SlotId{slot10}).state, SlotState::kHot);
  EXPECT_EQ(h.cold[10 * 32 + 5], std::byte{0xAB});
  ASSERT_TRUE(h.sched->CheckInvariants().ok()) << h.sched->CheckInvariants();
}

TEST(SchedulerTest, FinishReleasesEverySlot) {
  Harness h(16);
  h.Admit(1, 40, Density40());
  h.Cycle(1, 8, 41, {4, 4, 0, 0, 0, 4, 4, 0, 0, 0, 1});
  ASSERT_TRUE(h.sched->IssueCopies(8).ok());
  ASSERT_TRUE(h.sched->Finish(RequestId{1}).ok());
  h.clock.AdvanceBy(1'000'000);
  h.sched->Poll();
  ASSERT_TRUE(h.sched->CheckInvariants().ok()) << h.sched->CheckInvariants();
  EXPECT_EQ(h.sched->pool().free_count(), 16);
  EXPECT_EQ(h.sched->Finish(RequestId{1}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fm::sched
