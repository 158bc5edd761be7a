// Screenshot tests: flashmem-ui renders the synthetic trace in a real (hidden) GLFW window under
// Xvfb + Mesa, saves a PNG, and the test probes pixels: heatmap colours at known pages, histogram
// bars, counter lines. Run by ctest through xvfb-run; without a display it reports FM_UI_SKIPPED.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_format.h"
#include "profiler-ui/gfx/png_writer.h"
#include "profiler-ui/model/heatmap_color.h"
#include "profiler-ui/tests/synth_fixture.h"
#include "profiler-ui/views/app.h"

namespace fm::ui {
namespace {

constexpr int kWidth = 1280, kHeight = 800;

bool Near(uint32_t a, uint32_t b, int tol = 3) {
  for (int sh = 0; sh < 24; sh += 8) {
    if (std::abs(static_cast<int>((a >> sh) & 0xFF) - static_cast<int>((b >> sh) & 0xFF)) > tol) return false;
  }
  return true;
}

class ScreenshotTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::getenv("DISPLAY") == nullptr) return;
    trace_ = ::testing::TempDir() + "/fm_ui_screenshot.fmtrace";
    ASSERT_TRUE(testing::WriteFixtureFile(cfg_, trace_).ok());
    png_ = ::testing::TempDir() + "/fm_ui_screenshot.png";
    rc_ = Run(png_);
    absl::StatusOr<RgbaImage> img = ReadPng(png_);
    if (img.ok()) image_ = *std::move(img);
  }
  static int Run(const std::string& png) {
    const std::string cmd = absl::StrFormat("'%s' '%s' --screenshot '%s' --frames 3 --size %dx%d", FM_UI_BINARY, trace_, png,
                                            kWidth, kHeight);
    return std::system(cmd.c_str());
  }
  void SetUp() override {
    if (std::getenv("DISPLAY") == nullptr) {
      std::printf("FM_UI_SKIPPED: no DISPLAY (run under xvfb-run)\n");
      GTEST_SKIP();
    }
    ASSERT_EQ(rc_, 0);
    ASSERT_EQ(image_.width, kWidth);
    ASSERT_EQ(image_.height, kHeight);
  }
  // Pixels matching `pred` in the column x over the pane's rows.
  template <typename Pred>
  static int CountInColumn(ImVec2 pos, ImVec2 size, int x, Pred pred) {
    int n = 0;
    for (int y = static_cast<int>(pos.y); y < static_cast<int>(pos.y + size.y); ++y) n += pred(image_.At(x, y));
    return n;
  }
  template <typename Pred>
  static int CountInRect(ImVec2 pos, ImVec2 size, Pred pred) {
    int n = 0;
    for (int x = static_cast<int>(pos.x); x < static_cast<int>(pos.x + size.x); ++x) n += CountInColumn(pos, size, x, pred);
    return n;
  }

  static inline testing::FixtureConfig cfg_;
  static inline std::string trace_, png_;
  static inline int rc_ = -1;
  static inline RgbaImage image_;
};

TEST_F(ScreenshotTest, HeatmapShowsEachResidencyClassAtItsPages) {
  const PaneLayout l = ComputeLayout(ImVec2(kWidth, kHeight));
  const float pad = 8;  // ImGui's default WindowPadding.x
  auto x_of = [&](double page_fraction) {
    return static_cast<int>(l.heat_pos.x + pad + page_fraction * (l.heat_size.x - 2 * pad));
  };
  struct Probe {
    double fraction;
    CellClass cls;
  } probes[] = {{0.375, CellClass::kHot}, {0.5625, CellClass::kInFlight}, {0.6875, CellClass::kJustEvicted},
                {0.875, CellClass::kCold}};
  for (const Probe& p : probes) {
    const uint32_t want = CellColor(p.cls, 0.0f);  // these bands have no Level-2 use: base brightness
    const int n = CountInColumn(l.heat_pos, l.heat_size, x_of(p.fraction), [&](uint32_t c) { return Near(c, want); });
    EXPECT_GE(n, 60) << CellClassName(p.cls) << " at page fraction " << p.fraction;
  }
  // The selected band is green with brightness from the Level-2 use.
  const int green = CountInColumn(l.heat_pos, l.heat_size, x_of(0.125), [](uint32_t c) {
    const int r = c & 0xFF, g = (c >> 8) & 0xFF, b = (c >> 16) & 0xFF;
    return g > r + 40 && g > b + 40;
  });
  EXPECT_GE(green, 60);
  // No in-flight colour in the cold band.
  const int wrong = CountInColumn(l.heat_pos, l.heat_size, x_of(0.875),
                                  [](uint32_t c) { return Near(c, CellColor(CellClass::kInFlight, 0.0f)); });
  EXPECT_EQ(wrong, 0);
}

TEST_F(ScreenshotTest, HistogramBarsAndCounterLinesAreDrawn) {
  const PaneLayout l = ComputeLayout(ImVec2(kWidth, kHeight));
  const int bars = CountInRect(l.hist_pos, l.hist_size, [](uint32_t c) { return Near(c, IM_COL32(90, 170, 255, 255), 2); });
  EXPECT_GE(bars, 200) << "histogram bars";
  // Plot lines are anti-aliased: count clearly blue pixels (tok/s and TPOT-other lines).
  const int lines = CountInRect(l.counters_pos, l.counters_size, [](uint32_t c) {
    const int r = c & 0xFF, g = (c >> 8) & 0xFF, b = (c >> 16) & 0xFF;
    return b > 170 && g > 120 && r < 150;
  });
  EXPECT_GE(lines, 100) << "tok/s and TPOT lines";
  const int heat_outside = CountInRect(l.hist_pos, l.hist_size, [](uint32_t c) { return Near(c, CellColor(CellClass::kInFlight, 0.0f), 1); });
  EXPECT_EQ(heat_outside, 0);
}

TEST_F(ScreenshotTest, RenderingIsDeterministic) {
  const std::string again = ::testing::TempDir() + "/fm_ui_screenshot_again.png";
  ASSERT_EQ(Run(again), 0);
  absl::StatusOr<RgbaImage> img = ReadPng(again);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->rgba, image_.rgba);
  std::remove(again.c_str());
}

}  // namespace
}  // namespace fm::ui
