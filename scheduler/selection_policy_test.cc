#include "scheduler/selection_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace fm::sched {
namespace {

std::vector<int64_t> Pages(const std::vector<PageIndex>& v) {
  std::vector<int64_t> out;
  for (PageIndex p : v) out.push_back(p.v);
  return out;
}

TEST(SelectionPolicyTest, KmaxRuleGives96At256K192At512K384At1M) {
  EXPECT_EQ(DefaultKmaxPages(1024), 96);
  EXPECT_EQ(DefaultKmaxPages(2048), 192);
  EXPECT_EQ(DefaultKmaxPages(4096), 384);
  EXPECT_EQ(DefaultKmaxPages(10), 96);     // floor below 256K
  EXPECT_EQ(DefaultKmaxPages(3000), 282);  // ceil(3000 x 3 / 32) in between
  EXPECT_EQ(DefaultKmaxPages(8192), 768);  // proportional beyond 1M
  PolicyParams p;
  EXPECT_EQ(EffectiveKmaxPages(p, 8192, 384), 384);  // capped at kmax_max
  p.kmax_pages = 10;
  EXPECT_EQ(EffectiveKmaxPages(p, 8192, 384), 10);
}

TEST(SelectionPolicyTest, DensityCountsChunksWhoseMaxOverLayersExceedsThreshold) {
  GeometryConfig g;
  g.chunks_per_page = 4;
  const std::vector<float> l0 = {0.9f, 0.1f, 0.5f, 0.2f, 0.6f, 0.0f};
  const std::vector<float> l1 = {0.1f, 0.7f, 0.1f, 0.2f, 0.1f, 0.51f};
  std::vector<absl::Span<const float>> layers = {l0, l1};
  std::vector<uint8_t> density;
  ASSERT_TRUE(ComputePageDensity(layers, 6, 0.5, g, &density).ok());
  // Page 0: 0.9, 0.7 count; 0.5 is not > 0.5. Page 1: 0.6, 0.51.
  EXPECT_EQ(density, (std::vector<uint8_t>{2, 2}));
  ASSERT_TRUE(ComputePageDensity(layers, 5, 0.5, g, &density).ok());
  EXPECT_EQ(density, (std::vector<uint8_t>{2, 1}));
  EXPECT_EQ(ComputePageDensity(layers, 7, 0.5, g, &density).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputePageDensity({}, 1, 0.5, g, &density).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SelectionPolicyTest, KeepsTailThenDensestWithTiesTowardRecentPages) {
  GeometryConfig g;
  g.chunks_per_page = 4;
  PolicyParams p;
  p.tail_chunks = 5;  // chunks 35..39 -> pages 8 and 9
  const std::vector<uint8_t> density = {4, 1, 3, 3, 0, 3, 2, 0, 1, 0};
  Selection s;
  ASSERT_TRUE(SelectPages(density, 40, p, 6, g, &s).ok());
  EXPECT_EQ(s.forced_pages, 2);
  EXPECT_EQ(Pages(s.by_priority), (std::vector<int64_t>{9, 8, 0, 5, 3, 2}));
  EXPECT_EQ(Pages(s.ascending), (std::vector<int64_t>{0, 2, 3, 5, 8, 9}));
}

TEST(SelectionPolicyTest, SinkIsForcedAfterTheTail) {
  GeometryConfig g;
  g.chunks_per_page = 4;
  PolicyParams p;
  p.tail_chunks = 4;
  p.sink_chunks = 5;  // pages 0 and 1
  const std::vector<uint8_t> density = {0, 0, 4, 4, 0, 0};
  Selection s;
  ASSERT_TRUE(SelectPages(density, 24, p, 4, g, &s).ok());
  EXPECT_EQ(Pages(s.by_priority), (std::vector<int64_t>{5, 1, 0, 3}));
}

TEST(SelectionPolicyTest, ForcedPagesBeyondKmaxKeepTheMostRecent) {
  GeometryConfig g;
  g.chunks_per_page = 4;
  PolicyParams p;
  p.tail_chunks = 100;
  const std::vector<uint8_t> density(10, 4);
  Selection s;
  ASSERT_TRUE(SelectPages(density, 40, p, 3, g, &s).ok());
  EXPECT_EQ(Pages(s.ascending), (std::vector<int64_t>{7, 8, 9}));
}

TEST(SelectionPolicyTest, SelectsEveryPageWhenKmaxCoversTheContext) {
  GeometryConfig g;
  PolicyParams p;
  const std::vector<uint8_t> density(7, 0);
  Selection s;
  ASSERT_TRUE(SelectPages(density, 7 * 64 - 3, p, 96, g, &s).ok());
  EXPECT_EQ(s.ascending.size(), 7u);
  ASSERT_TRUE(SelectPages({}, 0, p, 96, g, &s).ok());
  EXPECT_TRUE(s.ascending.empty());
}

TEST(SelectionPolicyTest, RejectsDensityOfTheWrongLength) {
  GeometryConfig g;
  Selection s;
  const std::vector<uint8_t> density(3, 0);
  absl::Status st = SelectPages(density, 64 * 5, PolicyParams{}, 96, g, &s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("expected 5"), std::string::npos) << st;
}

// Property: the selection equals a brute-force sort by (forced, density, page) for random inputs.
TEST(SelectionPolicyTest, MatchesBruteForceOnRandomInputs) {
  std::mt19937_64 rng(7);
  GeometryConfig g;
  g.chunks_per_page = 8;
  for (int iter = 0; iter < 300; ++iter) {
    SCOPED_TRACE(iter);
    const int64_t n_chunks = static_cast<int64_t>(rng() % 400);
    const int64_t n_pages = PagesForChunks(n_chunks, g);
    std::vector<uint8_t> density(static_cast<size_t>(n_pages));
    for (auto& d : density) d = static_cast<uint8_t>(rng() % 9);
    PolicyParams p;
    p.tail_chunks = static_cast<int64_t>(rng() % 40);
    p.sink_chunks = static_cast<int64_t>(rng() % 20);
    const int32_t kmax = static_cast<int32_t>(rng() % 30);
    Selection s;
    ASSERT_TRUE(SelectPages(density, n_chunks, p, kmax, g, &s).ok());
    // Brute force: key = (forced tail, forced sink, density, page), all descending.
    std::vector<std::tuple<int, int, int, int64_t>> keys;
    for (int64_t q = 0; q < n_pages; ++q) {
      const bool tail = p.tail_chunks > 0 && (q + 1) * 8 > n_chunks - p.tail_chunks;
      const bool sink = p.sink_chunks > 0 && q * 8 < p.sink_chunks;
      keys.emplace_back(tail ? 1 : 0, sink && !tail ? 1 : 0, tail || sink ? 0 : density[q], q);
    }
    std::sort(keys.rbegin(), keys.rend());
    std::vector<int64_t> expected;
    for (size_t i = 0; i < std::min<size_t>(kmax, keys.size()); ++i) {
      expected.push_back(std::get<3>(keys[i]));
    }
    EXPECT_EQ(Pages(s.by_priority), expected);
  }
}

}  // namespace
}  // namespace fm::sched
