#include "scheduler/sim_link.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

namespace fm::sched {
namespace {

struct Pools {
  std::vector<std::byte> host = std::vector<std::byte>(1 << 20);
  std::vector<std::byte> device = std::vector<std::byte>(1 << 20);
  Pools() {
    for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<std::byte>(i * 7 + 1);
  }
};

std::unique_ptr<SimLink> MakeLink(const SimLinkConfig& c, Clock* clock, Pools& p) {
  absl::StatusOr<std::unique_ptr<SimLink>> link =
      SimLink::Create(c, clock, absl::MakeSpan(p.host), absl::MakeSpan(p.device));
  EXPECT_TRUE(link.ok()) << link.status();
  return std::move(*link);
}

TEST(SimLinkTest, BatchLandsAtLatencyPlusDescriptorsPlusBytesOverBandwidth) {
  VirtualClock clock(1000);
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  // 2 descriptors, 100,000 bytes at 50 B/ns: 2300 + 2 x 500 + 2000 = 5300 ns.
  absl::StatusOr<CopyTicket> t =
      link->Submit(CopyDirection::kHostToDevice, {{0, 0, 50'000}, {60'000, 60'000, 50'000}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*link->DoneNs(*t), 1000 + 5300);
  clock.AdvanceTo(1000 + 5299);
  EXPECT_FALSE(link->IsDone(*t));
  EXPECT_EQ(p.device[10], std::byte{0});  // nothing landed early
  clock.AdvanceTo(1000 + 5300);
  EXPECT_TRUE(link->IsDone(*t));
  EXPECT_EQ(std::memcmp(p.device.data(), p.host.data(), 50'000), 0);
  EXPECT_EQ(std::memcmp(p.device.data() + 60'000, p.host.data() + 60'000, 50'000), 0);
  EXPECT_EQ(p.device[55'000], std::byte{0});
}

TEST(SimLinkTest, BatchesOfOneDirectionQueueBehindEachOther) {
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  CopyTicket a = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 50'000}});
  CopyTicket b = *link->Submit(CopyDirection::kHostToDevice, {{0, 100'000, 50'000}});
  CopyTicket c = *link->Submit(CopyDirection::kDeviceToHost, {{0, 200'000, 50'000}});
  EXPECT_EQ(*link->DoneNs(a), 3800);
  EXPECT_EQ(*link->DoneNs(b), 7600);  // starts when the h2d link frees
  EXPECT_EQ(*link->DoneNs(c), 3800);  // the other direction runs in parallel
  EXPECT_EQ(link->LinkFreeNs(CopyDirection::kHostToDevice), 7600);
  clock.AdvanceTo(3800);
  EXPECT_TRUE(link->IsDone(a));
  EXPECT_TRUE(link->IsDone(c));
  EXPECT_FALSE(link->IsDone(b));
}

TEST(SimLinkTest, TimingKeepsTheSubmitTimeSoQueueingCountsInTheLatency) {
  VirtualClock clock(500);
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  CopyTicket a = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 50'000}});
  clock.AdvanceTo(1000);  // the caller asks later: the submit time must not move with it
  CopyTicket b = *link->Submit(CopyDirection::kHostToDevice, {{0, 100'000, 50'000}});
  const absl::StatusOr<SimLink::BatchTiming> ta = link->Timing(a);
  const absl::StatusOr<SimLink::BatchTiming> tb = link->Timing(b);
  ASSERT_TRUE(ta.ok() && tb.ok());
  EXPECT_EQ(ta->submit_ns, 500);
  EXPECT_EQ(ta->done_ns, 500 + 3800);  // 2300 + 1 x 500 + 50,000 B at 50 B/ns
  EXPECT_EQ(tb->submit_ns, 1000);
  EXPECT_EQ(tb->done_ns, 500 + 3800 + 3800);  // queued behind a: its latency includes the wait
  clock.AdvanceTo(tb->done_ns);
  EXPECT_TRUE(link->IsDone(b));
  EXPECT_TRUE(absl::IsNotFound(link->Timing(b).status()));  // landed: no longer pending
}

TEST(SimLinkTest, CopyOverlapsComputeWithoutStall) {
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  CopyTicket t = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 500'000}});  // 12.8 µs
  for (int step = 0; step < 8; ++step) clock.AdvanceBy(2'000);  // 16 µs of "compute"
  absl::StatusOr<int64_t> stall = link->Wait(t);
  ASSERT_TRUE(stall.ok());
  EXPECT_EQ(*stall, 0);
  EXPECT_EQ(clock.NowNs(), 16'000);
  EXPECT_EQ(std::memcmp(p.device.data(), p.host.data(), 500'000), 0);
}

TEST(SimLinkTest, WaitingOnALateCopyIsAStallThatAdvancesTheVirtualClock) {
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  CopyTicket t = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 500'000}});
  clock.AdvanceBy(4'000);
  absl::StatusOr<int64_t> stall = link->Wait(t);
  ASSERT_TRUE(stall.ok());
  EXPECT_EQ(*stall, 12'800 - 4'000);
  EXPECT_EQ(clock.NowNs(), 12'800);
  EXPECT_TRUE(link->IsDone(t));
}

TEST(SimLinkTest, PerCallCostMakesManySmallBatchesSlowerThanOneCoalescedBatch) {
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  // 8 separate 37,376 B copies vs one range of 8 x 37,376 B.
  CopyTicket last;
  for (int i = 0; i < 8; ++i) {
    last = *link->Submit(CopyDirection::kHostToDevice, {{i * 37'376, i * 37'376, 37'376}});
  }
  const int64_t separate = *link->DoneNs(last);
  CopyTicket one = *link->Submit(CopyDirection::kDeviceToHost, {{0, 0, 8 * 37'376}});
  const int64_t coalesced = *link->DoneNs(one);
  EXPECT_EQ(separate, 8 * 3548);  // 8 x (2300 + 500 + 747.52), each rounded to ns
  EXPECT_EQ(coalesced, 8780);     // 2300 + 500 + 5980.16
  const SimLink::Stats s = link->stats();
  EXPECT_EQ(s.batches[0], 8);
  EXPECT_EQ(s.bytes[0], 8 * 37'376);
  EXPECT_EQ(s.busy_ns[0], separate);
}

TEST(SimLinkTest, JitterIsDeterministicForASeedAndBounded) {
  SimLinkConfig c;
  c.jitter_fraction = 0.5;
  c.jitter_seed = 42;
  std::vector<int64_t> runs[3];
  for (int run = 0; run < 3; ++run) {
    if (run == 2) c.jitter_seed = 43;
    VirtualClock clock;
    Pools p;
    std::unique_ptr<SimLink> link = MakeLink(c, &clock, p);
    int64_t prev = 0;
    for (int i = 0; i < 20; ++i) {
      CopyTicket t = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 50'000}});
      const int64_t done = *link->DoneNs(t);
      EXPECT_GE(done - prev, 3800);
      EXPECT_LE(done - prev, 3800 * 3 / 2);
      runs[run].push_back(done);
      prev = done;
    }
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_NE(runs[0], runs[2]);
}

TEST(SimLinkTest, RejectsBadConfigAndOutOfBoundsRanges) {
  SimLinkConfig c;
  c.h2d_gbps = -1;
  absl::Status s = c.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("h2d_gbps: -1"), std::string::npos) << s;
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  EXPECT_EQ(link->Submit(CopyDirection::kHostToDevice, {{1 << 20, 0, 1}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(link->Submit(CopyDirection::kHostToDevice, {{0, 0, 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(link->Submit(CopyDirection::kHostToDevice, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(link->Wait(CopyTicket{CopyDirection::kHostToDevice, 5}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SimLinkTest, PendingQueueIsBounded) {
  SimLinkConfig c;
  c.max_pending_batches = 2;
  VirtualClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(c, &clock, p);
  ASSERT_TRUE(link->Submit(CopyDirection::kHostToDevice, {{0, 0, 8}}).ok());
  ASSERT_TRUE(link->Submit(CopyDirection::kHostToDevice, {{0, 0, 8}}).ok());
  EXPECT_EQ(link->Submit(CopyDirection::kHostToDevice, {{0, 0, 8}}).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SimLinkTest, RealClockMovesTheBytes) {
  RealClock clock;
  Pools p;
  std::unique_ptr<SimLink> link = MakeLink(SimLinkConfig{}, &clock, p);
  CopyTicket t = *link->Submit(CopyDirection::kHostToDevice, {{0, 0, 300'000}});
  ASSERT_TRUE(link->Wait(t).ok());
  EXPECT_TRUE(link->IsDone(t));
  EXPECT_EQ(std::memcmp(p.device.data(), p.host.data(), 300'000), 0);
}

}  // namespace
}  // namespace fm::sched
