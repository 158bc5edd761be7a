#include "profiler-ui/model/heatmap_color.h"

#include <gtest/gtest.h>

namespace fm::ui {
namespace {

ResidencyGrid MakeGrid(uint32_t pages, int layers) {
  ResidencyGrid g;
  g.Resize(pages, layers);
  return g;
}

TEST(HeatmapColorTest, EachPageStateMapsToItsClass) {
  ResidencyGrid g = MakeGrid(8, 4);
  g.cycle_start_ns = 1000;
  g.ApplyPageEvent(1, kPageFetching, 0, 100);
  g.ApplyPageEvent(2, kPageHot, 0, 100);
  g.ApplyPageEvent(3, kPageHot, 0b0100, 2000);  // picked on layer 2 this cycle
  g.ApplyPageEvent(4, kPageHot, 0b0100, 500);   // picked before the cycle started
  g.ApplyPageEvent(5, kPageHot, 0, 100);
  g.ApplyPageEvent(5, kPageCold, 0, 3000);      // evicted at 3000
  g.ApplyPageEvent(6, kPageWritingBack, 0, 100);
  EXPECT_EQ(ClassifyCell(g, 0, 0, 3100), CellClass::kCold);
  EXPECT_EQ(ClassifyCell(g, 1, 0, 3100), CellClass::kInFlight);
  EXPECT_EQ(ClassifyCell(g, 2, 0, 3100), CellClass::kHot);
  EXPECT_EQ(ClassifyCell(g, 3, 2, 3100), CellClass::kSelected);
  EXPECT_EQ(ClassifyCell(g, 3, 1, 3100), CellClass::kHot);
  EXPECT_EQ(ClassifyCell(g, 4, 2, 3100), CellClass::kHot);
  EXPECT_EQ(ClassifyCell(g, 5, 0, 3100), CellClass::kJustEvicted);
  EXPECT_EQ(ClassifyCell(g, 5, 0, 3000 + kJustEvictedNs + 1), CellClass::kCold);
  EXPECT_EQ(ClassifyCell(g, 6, 0, 3100), CellClass::kInFlight);
  EXPECT_EQ(ClassifyCell(g, 99, 0, 3100), CellClass::kCold);
  EXPECT_EQ(ClassifyCell(g, 0, 4, 3100), CellClass::kCold);
}

TEST(HeatmapColorTest, AFailedFetchIsNotAnEviction) {
  ResidencyGrid g = MakeGrid(2, 1);
  g.ApplyPageEvent(0, kPageFetching, 0, 100);
  g.ApplyPageEvent(0, kPageCold, 0, 200);
  EXPECT_EQ(ClassifyCell(g, 0, 0, 300), CellClass::kCold);
}

TEST(HeatmapColorTest, FetchLatencyIsFetchingToHot) {
  ResidencyGrid g = MakeGrid(2, 1);
  g.ApplyPageEvent(1, kPageFetching, 0, 1000);
  g.ApplyPageEvent(1, kPageHot, 1, 4500);
  EXPECT_EQ(g.fetch_latency_ns[1], 3500);
  EXPECT_EQ(g.fetch_latency_ns[0], -1);
}

TEST(HeatmapColorTest, ClassesHaveDistinctHuesAndUseScalesBrightness) {
  for (int a = 0; a < kCellClasses; ++a) {
    for (int b = a + 1; b < kCellClasses; ++b) {
      EXPECT_NE(CellColor(static_cast<CellClass>(a), 1.0f), CellColor(static_cast<CellClass>(b), 1.0f));
    }
  }
  const uint32_t dim = CellColor(CellClass::kHot, 0.0f);
  const uint32_t bright = CellColor(CellClass::kHot, 1.0f);
  EXPECT_LT(dim & 0xFF, bright & 0xFF);
  EXPECT_EQ(bright >> 24, 0xFFu);
  EXPECT_EQ(bright, 0xFF2C60E8u);  // (232, 96, 44) in IM_COL32 byte order
}

TEST(HeatmapColorTest, ZoomedOutColumnShowsTheMostImportantPage) {
  ResidencyGrid g = MakeGrid(4096, 21);
  g.cycle_start_ns = 0;
  for (uint32_t p = 0; p < 1024; ++p) g.ApplyPageEvent(p, kPageHot, 0, 10);
  g.ApplyPageEvent(2000, kPageFetching, 0, 10);  // one in-flight page among cold ones
  std::vector<uint32_t> img;
  ASSERT_TRUE(BuildHeatmapImage(g, 0, 4096, 512, 20, &img));
  ASSERT_EQ(img.size(), 512u * 21);
  const int col_of_2000 = 2000 * 512 / 4096;  // 8 pages per column
  EXPECT_EQ(img[col_of_2000], CellColor(CellClass::kInFlight, 1.0f));
  EXPECT_EQ(img[20 * 512 + 10], CellColor(CellClass::kHot, 1.0f));
  EXPECT_EQ(img[5 * 512 + 300], CellColor(CellClass::kCold, 0.0f));
  EXPECT_EQ(img[5 * 512 + col_of_2000 + 1], CellColor(CellClass::kCold, 0.0f));
}

TEST(HeatmapColorTest, ZoomedInColumnsRepeatOnePage) {
  ResidencyGrid g = MakeGrid(16, 2);
  g.ApplyPageEvent(5, kPageHot, 0, 10);
  std::vector<uint32_t> img;
  ASSERT_TRUE(BuildHeatmapImage(g, 4.0, 6.0, 8, 20, &img));  // 4 columns per page
  for (int c = 0; c < 4; ++c) EXPECT_EQ(img[c], CellColor(CellClass::kCold, 0)) << c;
  for (int c = 4; c < 8; ++c) EXPECT_EQ(img[8 + c], CellColor(CellClass::kHot, 1)) << c;
}

TEST(HeatmapColorTest, LevelTwoUseSetsBrightness) {
  ResidencyGrid g;
  g.l2_use.assign(2 * 2, 0);
  g.Resize(2, 2);
  g.l2_use[0 * 2 + 1] = 16;
  g.ApplyPageEvent(0, kPageHot, 0, 1);
  EXPECT_FLOAT_EQ(UseIntensity(g, 0, 1), 1.0f);
  EXPECT_FLOAT_EQ(UseIntensity(g, 0, 0), 0.0f);
  std::vector<uint64_t> counts = CountClasses(g, 5);
  EXPECT_EQ(counts[static_cast<int>(CellClass::kHot)], 2u);
  EXPECT_EQ(counts[static_cast<int>(CellClass::kCold)], 2u);
}

TEST(HeatmapColorTest, EmptyGridBuildsNoImage) {
  ResidencyGrid g;
  std::vector<uint32_t> img = {1};
  EXPECT_FALSE(BuildHeatmapImage(g, 0, 10, 10, 0, &img));
  EXPECT_TRUE(img.empty());
}

}  // namespace
}  // namespace fm::ui
