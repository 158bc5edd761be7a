#include "tools/plot/svg_plot.h"

#include <gtest/gtest.h>

namespace fm::plot {
namespace {

TEST(SvgPlotTest, NiceTicksUseOneTwoFiveSteps) {
  const std::vector<double> t = NiceTicks(0, 9.3, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_DOUBLE_EQ(t.front(), 0.0);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 2.0);
  EXPECT_GE(t.back(), 8.0);
}

TEST(SvgPlotTest, RendersSeriesLegendAndEscapedLabels) {
  PlotSpec p;
  p.title = "a < b";
  p.log2_x = true;
  p.x_tick_format = FormatTokens;
  p.series = {{"one", {65536, 1 << 20}, {1, 2}}, {"two & three", {65536, 1 << 20}, {3, 4}}};
  const std::string svg = RenderSvg(p);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("a &lt; b"), std::string::npos);
  EXPECT_NE(svg.find("two &amp; three"), std::string::npos);
  EXPECT_NE(svg.find(">64K<"), std::string::npos);
  EXPECT_NE(svg.find(">1M<"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 2u);
}

TEST(SvgPlotTest, SkipsNonFinitePointsAndRendersEmptyPlot) {
  PlotSpec p;
  p.series = {{"s", {1, 2, 3}, {1, std::nan(""), 3}}};
  EXPECT_EQ(RenderSvg(p).find("nan"), std::string::npos);
  EXPECT_NE(RenderSvg(PlotSpec{}).find("</svg>"), std::string::npos);
}

TEST(SvgPlotTest, LogTenAxisTicksAtPowersOfTenAndSkipsZero) {
  PlotSpec p;
  p.log10_x = true;
  p.series = {{"s", {0.0, 0.01, 10.0}, {1, 2, 3}}};
  const std::string svg = RenderSvg(p);
  EXPECT_NE(svg.find(">0.01<"), std::string::npos);
  EXPECT_NE(svg.find(">0.1<"), std::string::npos);
  EXPECT_NE(svg.find(">10<"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgPlotTest, FormatsTokenCounts) {
  EXPECT_EQ(FormatTokens(65536), "64K");
  EXPECT_EQ(FormatTokens(1 << 20), "1M");
  EXPECT_EQ(FormatTokens(100), "100");
}

}  // namespace
}  // namespace fm::plot
