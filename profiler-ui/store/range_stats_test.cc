#include "profiler-ui/store/range_stats.h"

#include <gtest/gtest.h>

#include "profiler-ui/tests/store_from_fixture.h"
#include "profiler-ui/tests/synth_fixture.h"

namespace fm::ui {
namespace {

using testing::FixtureConfig;

TEST(RangeStatsTest, WholeSessionCountsEveryStepAndFetch) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  const RangeStats st = ComputeRangeStats(s, TimeRange{s.first_ns(), s.last_ns() + 1});
  EXPECT_EQ(st.steps, cfg.steps);
  EXPECT_EQ(st.tokens, cfg.steps);
  EXPECT_EQ(st.fetches, (cfg.steps / cfg.tau_steps) * cfg.copies_per_cycle);
  EXPECT_NEAR(st.tpot_boundary_ms, 24.0, 1e-6);
  EXPECT_LT(st.tpot_other_ms, st.tpot_boundary_ms);
  EXPECT_GT(st.latency_ns.Percentile(0.5), 20'000u);
  EXPECT_LE(st.latency_ns.Percentile(0.5), st.latency_ns.Percentile(0.99));
  EXPECT_GT(st.ns_per_kib.total(), 0u);
  EXPECT_GT(st.coverage, 0.98);
  EXPECT_GT(st.stall_fraction, 0.0);
  EXPECT_GT(st.link_bytes_per_s, 0.0);
}

TEST(RangeStatsTest, ASelectedRangeLimitsTheStatistics) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  // The first τ-cycle only: its copies start within the first 5 ms.
  const TimeRange first_cycle{0, cfg.step_ns * cfg.tau_steps};
  const RangeStats st = ComputeRangeStats(s, first_cycle);
  EXPECT_EQ(st.fetches, cfg.copies_per_cycle);
  EXPECT_EQ(st.steps, cfg.tau_steps);
  const RangeStats none = ComputeRangeStats(s, TimeRange{5, 5});
  EXPECT_EQ(none.fetches, 0u);
  EXPECT_EQ(none.steps, 0u);
}

TEST(RangeStatsTest, CompareRowsCarryBothSidesAndDeltas) {
  FixtureConfig a_cfg, b_cfg;
  b_cfg.copies_per_cycle = 12;
  const Store a = testing::StoreFromFixture(a_cfg), b = testing::StoreFromFixture(b_cfg);
  const RangeStats sa = ComputeRangeStats(a, TimeRange{a.first_ns(), a.last_ns() + 1});
  const RangeStats sb = ComputeRangeStats(b, TimeRange{b.first_ns(), b.last_ns() + 1});
  const std::vector<StatRow> rows = StatRows(sa, &sb);
  auto fetches = std::find_if(rows.begin(), rows.end(), [](const StatRow& r) { return r.name == "fetches"; });
  ASSERT_NE(fetches, rows.end());
  EXPECT_EQ(fetches->a, 2 * fetches->b);
  EXPECT_DOUBLE_EQ(DeltaPercent(fetches->a, fetches->b), -50.0);
  EXPECT_EQ(DeltaPercent(0, 5), 0.0);
}

}  // namespace
}  // namespace fm::ui
