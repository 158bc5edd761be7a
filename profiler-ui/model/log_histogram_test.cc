#include "profiler-ui/model/log_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace fm::ui {
namespace {

TEST(LogHistogramTest, SmallValuesHaveExactBuckets) {
  for (uint64_t v = 0; v < 8; ++v) {
    EXPECT_EQ(LogBucketOf(v), static_cast<int>(v));
    EXPECT_EQ(LogBucketLower(static_cast<int>(v)), v);
    EXPECT_EQ(LogBucketUpper(static_cast<int>(v)), v);
  }
}

TEST(LogHistogramTest, BucketsTileTheRangeWithoutGapsAndWithinEighthResolution) {
  for (int b = 8; b < kLogBuckets - 1; ++b) {
    const uint64_t lo = LogBucketLower(b);
    ASSERT_EQ(LogBucketUpper(b - 1) + 1, lo) << b;
    ASSERT_EQ(LogBucketOf(lo), b);
    ASSERT_EQ(LogBucketOf(LogBucketUpper(b)), b);
    ASSERT_LE(LogBucketUpper(b) - lo + 1, lo / 8 + 1) << b;
  }
  EXPECT_EQ(LogBucketOf(UINT64_MAX), kLogBuckets - 1);
}

TEST(LogHistogramTest, PercentilesOfUniformValuesAreWithinBucketResolution) {
  LogHistogram h;
  std::vector<uint64_t> v;
  for (uint64_t i = 1; i <= 10000; ++i) {
    h.Add(i * 100);
    v.push_back(i * 100);
  }
  for (double q : {0.5, 0.9, 0.99}) {
    const double exact = static_cast<double>(ExactPercentile(v, q));
    const double approx = static_cast<double>(h.Percentile(q));
    EXPECT_GE(approx, exact) << q;
    EXPECT_LE(approx, exact * 1.125 + 1) << q;
  }
  EXPECT_EQ(h.Percentile(1.0), 1'000'000u);
  EXPECT_EQ(h.max(), 1'000'000u);
  EXPECT_EQ(h.min(), 100u);
  EXPECT_EQ(h.total(), 10000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500050.0);
}

TEST(LogHistogramTest, EmptyHistogramReportsZeros) {
  LogHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.first_bucket(), 0);
  EXPECT_EQ(h.end_bucket(), 0);
  std::vector<uint64_t> none;
  EXPECT_EQ(ExactPercentile(none, 0.5), 0u);
}

TEST(LogHistogramTest, ExactPercentileUsesNearestRank) {
  std::vector<uint64_t> v = {5, 1, 4, 2, 3};
  EXPECT_EQ(ExactPercentile(v, 0.0), 1u);
  EXPECT_EQ(ExactPercentile(v, 0.5), 3u);
  EXPECT_EQ(ExactPercentile(v, 0.8), 4u);
  EXPECT_EQ(ExactPercentile(v, 0.81), 5u);
  EXPECT_EQ(ExactPercentile(v, 1.0), 5u);
}

TEST(LogHistogramTest, BucketCountsFromASnapshotMergeBucketForBucket) {
  LogHistogram from_events;
  std::vector<uint64_t> runtime_layout(LogBucketOf(50000) + 1, 0);
  std::mt19937_64 rng(7);
  SCOPED_TRACE("seed 7");
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = rng() % 50000;
    from_events.Add(v);
    ++runtime_layout[static_cast<size_t>(LogBucketOf(v))];
  }
  LogHistogram from_snapshot;
  from_snapshot.AddBucketCounts(runtime_layout);
  EXPECT_EQ(from_snapshot.total(), 1000u);
  for (int b = 0; b < kLogBuckets; ++b) {
    ASSERT_EQ(from_snapshot.counts()[b], from_events.counts()[b]) << b;
  }
  EXPECT_EQ(LogBucketOf(from_snapshot.Percentile(0.5)), LogBucketOf(from_events.Percentile(0.5)));
}

TEST(LogHistogramTest, MergedBarsKeepEveryCountAndCoverTheRange) {
  LogHistogram h;
  for (uint64_t v = 10; v < 1'000'000; v = v * 11 / 10 + 1) h.Add(v, v % 7 + 1);
  const int first = h.first_bucket(), end = h.end_bucket();
  for (int max_bars : {1, 7, 40, 1000}) {
    const std::vector<HistogramBar> bars = MergeBuckets(h, first, end, max_bars);
    ASSERT_LE(static_cast<int>(bars.size()), max_bars);
    uint64_t sum = 0;
    for (size_t i = 0; i < bars.size(); ++i) {
      sum += bars[i].count;
      if (i > 0) {
        EXPECT_EQ(bars[i - 1].value_hi + 1, bars[i].value_lo);
      }
    }
    EXPECT_EQ(sum, h.total()) << max_bars;
    EXPECT_EQ(bars.front().value_lo, LogBucketLower(first));
    EXPECT_EQ(bars.back().value_hi, LogBucketUpper(end - 1));
  }
}

}  // namespace
}  // namespace fm::ui
