#include "profiler-ui/model/decimate.h"

#include <gtest/gtest.h>

namespace fm::ui {
namespace {

TEST(DecimateTest, OneSampleSpikeSurvivesAMillionPoints) {
  std::vector<int64_t> t(1'000'000);
  std::vector<double> v(t.size(), 1.0);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int64_t>(i) * 10;
  v[777'777] = 50.0;
  v[123'456] = -3.0;
  const std::vector<MinMaxColumn> cols = DecimateMinMax(t, v, 0, 10'000'000, 100);
  ASSERT_EQ(cols.size(), 100u);
  double hi = 0, lo = 0;
  uint64_t count = 0;
  for (const MinMaxColumn& c : cols) {
    hi = std::max(hi, c.max);
    lo = std::min(lo, c.min);
    count += c.count;
  }
  EXPECT_EQ(hi, 50.0);
  EXPECT_EQ(lo, -3.0);
  EXPECT_EQ(count, 1'000'000u);
  EXPECT_EQ(cols[77].max, 50.0);
  EXPECT_EQ(cols[12].min, -3.0);
  EXPECT_EQ(cols[13].min, 1.0);
}

TEST(DecimateTest, OnlyTheVisibleRangeIsDecimatedAndEndIsExclusive) {
  std::vector<int64_t> t = {0, 10, 20, 30, 40};
  std::vector<double> v = {1, 2, 3, 4, 5};
  const std::vector<MinMaxColumn> cols = DecimateMinMax(t, v, 10, 40, 3);
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].first, 2);
  EXPECT_EQ(cols[2].last, 4);
  const IndexRange r = VisibleRange(t, 10, 40);
  EXPECT_EQ(r.first, 1u);
  EXPECT_EQ(r.last, 4u);
}

TEST(DecimateTest, SparseSamplesKeepTheirOwnColumnsAndFirstLast) {
  std::vector<int64_t> t = {0, 1, 2, 900};
  std::vector<double> v = {5, 9, 7, 3};
  const std::vector<MinMaxColumn> cols = DecimateMinMax(t, v, 0, 1000, 10);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].column, 0);
  EXPECT_EQ(cols[0].first, 5);
  EXPECT_EQ(cols[0].last, 7);
  EXPECT_EQ(cols[0].max, 9);
  EXPECT_EQ(cols[0].count, 3u);
  EXPECT_EQ(cols[1].column, 9);
}

TEST(DecimateTest, DegenerateInputsGiveNoColumns) {
  std::vector<int64_t> t = {0, 10};
  std::vector<double> v = {1, 2};
  EXPECT_TRUE(DecimateMinMax(t, v, 0, 100, 0).empty());
  EXPECT_TRUE(DecimateMinMax(t, v, 100, 100, 10).empty());
  EXPECT_TRUE(DecimateMinMax(t, v, 20, 100, 10).empty());
  EXPECT_TRUE(DecimateMinMax({}, {}, 0, 100, 10).empty());
}

TEST(DecimateTest, FitRangeWidensFlatSeries) {
  std::vector<double> v = {2, 2, 2};
  const ValueRange r = FitRange(v, IndexRange{0, 3});
  EXPECT_LT(r.lo, 2);
  EXPECT_GT(r.hi, 2);
  std::vector<double> w = {1, 5, -2, 4};
  const ValueRange s = FitRange(w, IndexRange{1, 3});
  EXPECT_EQ(s.lo, -2);
  EXPECT_EQ(s.hi, 5);
}

}  // namespace
}  // namespace fm::ui
