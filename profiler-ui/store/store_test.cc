#include "profiler-ui/store/store.h"

#include <gtest/gtest.h>

#include "profiler-ui/model/log_histogram.h"
#include "profiler-ui/tests/store_from_fixture.h"
#include "profiler-ui/tests/synth_fixture.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"

namespace fm::ui {
namespace {

using testing::FixtureConfig;

TEST(StoreTest, JoinsEveryCopyIssueWithItsDone) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  ASSERT_EQ(s.copies().size(), 1u);
  const CopyLane& lane = s.copies().begin()->second;
  EXPECT_EQ(lane.size(), (cfg.steps / cfg.tau_steps) * cfg.copies_per_cycle);
  EXPECT_EQ(s.unmatched_copies(), 0u);
  EXPECT_EQ(s.TrackName(lane.track), "copy engine 0");
  for (size_t i = 0; i < lane.size(); ++i) {
    ASSERT_GT(lane.start_ns[i], lane.issue_ns[i]);
    ASSERT_GT(lane.bytes[i], 0u);
    if (i > 0) {
      ASSERT_LE(lane.start_ns[i - 1], lane.start_ns[i]);
    }
  }
}

TEST(StoreTest, ResolvesNamesAndSessionFacts) {
  const Store s = testing::StoreFromFixture(FixtureConfig{});
  ASSERT_TRUE(s.hello().has_value());
  EXPECT_EQ(s.csa_layers(), 21);
  EXPECT_EQ(s.tokens_per_page(), 256u);
  EXPECT_EQ(s.StringOf(1), "decode.step");
  EXPECT_EQ(s.StringOf(999), "#999");
  EXPECT_EQ(s.request_ids(), (std::vector<uint32_t>{7, 9}));
  EXPECT_EQ(s.zones().size(), 2u);
  ASSERT_EQ(s.params_applied().size(), 1u);
  EXPECT_EQ(s.params_applied()[0].name, "tau");
  EXPECT_EQ(s.params_applied()[0].value, 32.0);
  EXPECT_EQ(s.runtime_dropped_events(), 3u);
}

TEST(StoreTest, BoundaryStepsAreSlowerInTheDerivedTpot) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  const Series& b = s.derived(Derived::kTpotBoundaryMs);
  const Series& o = s.derived(Derived::kTpotOtherMs);
  EXPECT_EQ(b.size(), cfg.steps / cfg.tau_steps - 1);  // step 0 has no previous step
  EXPECT_EQ(b.size() + o.size(), cfg.steps - 1);
  for (double v : b.v) EXPECT_NEAR(v, 24.0, 1e-6);
  const Series& tok = s.derived(Derived::kTokensPerS);
  EXPECT_NEAR(tok.v[5], 50.0, 1e-6);  // one token per 20 ms step
}

TEST(StoreTest, CoverageComesFromCumulativeHitAndMissCounters) {
  const Store s = testing::StoreFromFixture(FixtureConfig{});
  const Series& cov = s.derived(Derived::kCoverage);
  ASSERT_FALSE(cov.empty());
  for (double v : cov.v) {
    ASSERT_GE(v, 0.98);
    ASSERT_LE(v, 1.0);
  }
}

TEST(StoreTest, DamagedPayloadIsCountedAndNotApplied) {
  Store s;
  std::vector<traces::Event> ev(3);
  std::vector<uint8_t> payload = traces::EncodeEvents(ev);
  payload.resize(payload.size() - 5);
  EXPECT_FALSE(s.IngestFrame(static_cast<uint16_t>(traces::FrameKind::kEvents), payload).ok());
  EXPECT_EQ(s.decode_errors(), 1u);
  EXPECT_EQ(s.events_kept(), 0u);
  EXPECT_FALSE(s.has_data());
}

TEST(StoreTest, HelloFromAnotherProcessStartsANewSession) {
  Store s = testing::StoreFromFixture(FixtureConfig{});
  ASSERT_TRUE(s.has_data());
  traces::Hello same = *s.hello();
  ASSERT_TRUE(s.IngestFrame(static_cast<uint16_t>(traces::FrameKind::kHello), traces::EncodeHello(same)).ok());
  EXPECT_TRUE(s.has_data()) << "a reconnect to the same runtime keeps the data";
  traces::Hello other = same;
  other.pid += 1;
  ASSERT_TRUE(s.IngestFrame(static_cast<uint16_t>(traces::FrameKind::kHello), traces::EncodeHello(other)).ok());
  EXPECT_FALSE(s.has_data());
  EXPECT_EQ(s.sessions(), 2u);
  EXPECT_EQ(s.hello()->pid, other.pid);
}

TEST(StoreTest, EventLimitCountsInsteadOfGrowing) {
  StoreLimits limits;
  limits.max_events = 10;
  Store s(limits);
  traces::Event e{};
  e.kind = static_cast<uint8_t>(traces::EventKind::kMark);
  for (int i = 0; i < 25; ++i) {
    e.t_ns = i;
    s.IngestEvent(e);
  }
  EXPECT_EQ(s.marks().size(), 10u);
  EXPECT_EQ(s.store_dropped(), 15u);
}

TEST(StoreTest, LatencyBucketsMatchTheRuntimeLayout) {
  for (uint64_t v : {0ull, 7ull, 8ull, 9ull, 1000ull, 123456789ull, 1ull << 40, ~0ull}) {
    EXPECT_EQ(LogBucketOf(v), traces::LatencyBucketOf(v)) << v;
  }
  for (int b = 0; b < kLogBuckets; b += 13) EXPECT_EQ(LogBucketLower(b), traces::LatencyBucketLowerNs(b));
  EXPECT_EQ(kLogBuckets, traces::kLatencyBuckets);
}

TEST(StoreTest, OutOfOrderZonesAreSortedOnCommit) {
  Store s;
  traces::Event e{};
  e.kind = static_cast<uint8_t>(traces::EventKind::kZone);
  e.track = 4;
  for (int64_t t : {300, 100, 200}) {
    e.t_ns = t;
    e.a = 10;
    s.IngestEvent(e);
  }
  s.Commit();
  const ZoneLane& lane = s.zones().at(4);
  EXPECT_EQ(lane.start_ns, (std::vector<int64_t>{100, 200, 300}));
  EXPECT_EQ(s.first_ns(), 100);
  EXPECT_EQ(s.last_ns(), 310);
}

}  // namespace
}  // namespace fm::ui
