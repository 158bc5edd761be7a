// `flashmem bench decode` without CUDA: the summary of step samples and the skip path.

#include "tools/bench/decode_bench.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace fm::bench {
namespace {

TEST(DecodeBenchSummary, TpotPercentilesStallFractionAndBoundaries) {
  std::vector<DecodeStepSample> samples;
  samples.push_back({0.0, 0.0, false});  // the first step has no interval: left out
  for (int i = 0; i < 98; ++i) samples.push_back({10.0, 0.0, false});
  samples.push_back({20.0, 5.0, true});  // one boundary step with a publish stall
  const nlohmann::json j = SummarizeDecodeSamples(samples);
  EXPECT_EQ(j["n_steps"].get<int64_t>(), 99);
  EXPECT_NEAR(j["tpot_ms"].get<double>(), (98 * 10.0 + 20.0) / 99, 1e-9);
  EXPECT_NEAR(j["p50_ms"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(j["p99_ms"].get<double>(), 20.0, 1e-9);  // nearest rank ceil(0.99 * 99) = 99
  EXPECT_EQ(j["boundary_steps"].get<int64_t>(), 1);
  EXPECT_NEAR(j["boundary_p50_ms"].get<double>(), 20.0, 1e-9);
  EXPECT_NEAR(j["stall_fraction"].get<double>(), 5.0 / (98 * 10.0 + 20.0), 1e-12);
}

TEST(DecodeBenchSummary, SpikesShowInP99OverP50) {
  std::vector<DecodeStepSample> samples(1);
  for (int i = 0; i < 90; ++i) samples.push_back({1.0, 0.0, false});
  for (int i = 0; i < 10; ++i) samples.push_back({3.0, 1.0, true});
  const nlohmann::json j = SummarizeDecodeSamples(samples);
  EXPECT_NEAR(j["p50_ms"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(j["p99_ms"].get<double>(), 3.0, 1e-9);
  EXPECT_NEAR(j["p99_over_p50"].get<double>(), 3.0, 1e-9);
}

TEST(DecodeBenchSummary, EmptyRunIsAllZero) {
  const nlohmann::json j = SummarizeDecodeSamples({});
  EXPECT_EQ(j["n_steps"].get<int64_t>(), 0);
  EXPECT_EQ(j["tpot_ms"].get<double>(), 0.0);
  EXPECT_EQ(j["p99_over_p50"].get<double>(), 0.0);
  EXPECT_EQ(j["stall_fraction"].get<double>(), 0.0);
}

TEST(BenchLsaCycle, ChurnsPagesWithoutReusingALiveSlot) {
  const int64_t ctx = 40, table = 48, kmax = 12, churn = 3;
  const int32_t base = 100;
  BenchLsaCycle cy(ctx, table, kmax, churn, base, 5);
  auto resident = [](const std::vector<int32_t>& t) {
    return std::count_if(t.begin(), t.end(), [](int32_t s) { return s >= 0; });
  };
  ASSERT_EQ(cy.live().size(), static_cast<size_t>(table));
  EXPECT_EQ(resident(cy.live()), kmax);
  for (int64_t p = ctx - kmax; p < ctx; ++p) EXPECT_GE(cy.live()[static_cast<size_t>(p)], 0);
  EXPECT_FALSE(cy.Publish());  // nothing staged yet
  for (int cycle = 0; cycle < 30; ++cycle) {
    const std::vector<int32_t> before = cy.live();
    const auto fetch = cy.Boundary();
    ASSERT_EQ(fetch.size(), static_cast<size_t>(churn)) << cycle;
    EXPECT_TRUE(cy.Boundary().empty());  // one generation in flight at most
    for (const auto& [page, slot] : fetch) {
      EXPECT_LT(before[static_cast<size_t>(page)], 0) << "fetched a resident page";
      EXPECT_GE(slot, base);
      EXPECT_LT(slot, base + BenchLsaCycle::SlotsNeeded(kmax, churn));
      // A staged slot is not read by the live table (the copy may land while it is in use).
      EXPECT_EQ(std::count(before.begin(), before.end(), slot), 0) << "slot " << slot << " is live";
    }
    EXPECT_GE(cy.pending()[static_cast<size_t>(ctx - 1)], 0) << "the tail page left";
    EXPECT_EQ(cy.live(), before);  // nothing changes before the publish
    ASSERT_TRUE(cy.Publish());
    EXPECT_EQ(resident(cy.live()), kmax);
    std::vector<int32_t> slots;
    for (int32_t s : cy.live()) {
      if (s >= 0) slots.push_back(s);
    }
    std::sort(slots.begin(), slots.end());
    EXPECT_EQ(std::adjacent_find(slots.begin(), slots.end()), slots.end())
        << "a slot holds two pages";
  }
}

TEST(DecodeBench, WithoutCudaItSaysWhyAndDoesNotRun) {
  EXPECT_NE(DecodeSkipReason().find("without CUDA"), std::string::npos);
  auto r = RunDecodeBench({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fm::bench
