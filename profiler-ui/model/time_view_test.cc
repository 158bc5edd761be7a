#include "profiler-ui/model/time_view.h"

#include <gtest/gtest.h>

namespace fm::ui {
namespace {

TEST(TimeViewTest, WheelZoomKeepsTheTimeUnderTheCursorFixed) {
  TimeView v(TimeRange{1'000'000, 2'000'000});
  const double before = v.TimeAt(250, 1000);
  v.ZoomAt(250, 1000, 3);
  EXPECT_NEAR(v.TimeAt(250, 1000), before, 1.0);
  EXPECT_LT(v.range().span_ns(), 1'000'000);
  EXPECT_NEAR(static_cast<double>(v.range().span_ns()), 1e6 / (1.25 * 1.25 * 1.25), 2.0);
  v.ZoomAt(250, 1000, -3);
  EXPECT_NEAR(static_cast<double>(v.range().span_ns()), 1e6, 4.0);
  EXPECT_NEAR(v.TimeAt(250, 1000), before, 2.0);
}

TEST(TimeViewTest, ZoomStopsAtTheMinimumSpan) {
  TimeView v(TimeRange{0, 1000});
  for (int i = 0; i < 100; ++i) v.ZoomAt(500, 1000, 5);
  EXPECT_EQ(v.range().span_ns(), TimeView::kMinSpanNs);
}

TEST(TimeViewTest, DraggingRightShowsEarlierTimes) {
  TimeView v(TimeRange{0, 1000});
  v.PanPixels(100, 1000);
  EXPECT_EQ(v.range().begin_ns, -100);
  EXPECT_EQ(v.range().end_ns, 900);
}

TEST(TimeViewTest, PixelAndTimeAreInverse) {
  TimeView v(TimeRange{5000, 15000});
  EXPECT_DOUBLE_EQ(v.PixelOf(v.TimeAt(123, 800), 800), 123);
}

TEST(TimeViewTest, RangeSelectionIsNormalisedAndIntersects) {
  EXPECT_EQ(RangeBetween(50, 10), (TimeRange{10, 50}));
  EXPECT_TRUE(RangeBetween(7, 7).empty());
  EXPECT_EQ(Intersect(TimeRange{0, 100}, TimeRange{50, 200}), (TimeRange{50, 100}));
  EXPECT_TRUE(Intersect(TimeRange{0, 10}, TimeRange{20, 30}).empty());
  EXPECT_TRUE((TimeRange{0, 10}).Contains(0));
  EXPECT_FALSE((TimeRange{0, 10}).Contains(10));
}

TEST(TimeViewTest, FollowKeepsTheSpan) {
  TimeView v(TimeRange{0, 1000});
  v.FollowTo(50'000);
  EXPECT_EQ(v.range(), (TimeRange{49'000, 50'000}));
}

}  // namespace
}  // namespace fm::ui
