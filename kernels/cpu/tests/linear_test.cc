#include "kernels/cpu/linear.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {
namespace {

TEST(NumericFormatsTest, E4m3DecodesKnownCodes) {
  EXPECT_EQ(E4m3ToFloat(0x00), 0.0f);
  EXPECT_EQ(E4m3ToFloat(0x38), 1.0f);      // exp 7, man 0
  EXPECT_EQ(E4m3ToFloat(0x7e), 448.0f);    // max finite
  EXPECT_EQ(E4m3ToFloat(0xfe), -448.0f);
  EXPECT_EQ(E4m3ToFloat(0x01), 0.001953125f);  // smallest subnormal 2^-9
  EXPECT_TRUE(std::isnan(E4m3ToFloat(0x7f)));
  EXPECT_EQ(E8m0ToFloat(127), 1.0f);
  EXPECT_EQ(E8m0ToFloat(130), 8.0f);
  EXPECT_EQ(E2m1ToFloat(7), 6.0f);
  EXPECT_EQ(E2m1ToFloat(0xd), -3.0f);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.5f)), 1.5f);
  EXPECT_EQ(F16ToFloat(0x3c00), 1.0f);
}

TEST(LinearTest, Fp8BlockScaledMatchesDirectFormula) {
  const int64_t rows = 130, cols = 260;  // crosses 128-blocks on both axes
  std::mt19937 rng(7);
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
  for (auto& b : q) {
    b = static_cast<uint8_t>(rng() & 0xff);
    if ((b & 0x7f) == 0x7f) b = 0x30;  // avoid NaN codes
  }
  const int64_t sr = 2, sc = 3;
  std::vector<uint8_t> s(static_cast<size_t>(sr * sc));
  for (auto& b : s) b = static_cast<uint8_t>(120 + rng() % 10);
  WeightView w{WeightFormat::kFP8Block128, rows, cols, q.data(), s.data(), sc};
  std::vector<float> x(static_cast<size_t>(2 * cols));
  for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<float> y(static_cast<size_t>(2 * rows));
  ThreadPool pool(3);
  Linear(w, x.data(), 2, y.data(), &pool);
  for (int64_t t = 0; t < 2; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0;
      for (int64_t c = 0; c < cols; ++c) {
        ref += double(E4m3ToFloat(q[r * cols + c])) * std::ldexp(1.0, s[(r / 128) * sc + c / 128] - 127) *
               x[t * cols + c];
      }
      EXPECT_NEAR(y[t * rows + r], ref, 1e-3 * (1 + std::fabs(ref)));
    }
  }
}

TEST(LinearTest, Mxfp4MatchesDirectFormula) {
  const int64_t rows = 5, cols = 64;
  std::mt19937 rng(3);
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols / 2));
  for (auto& b : q) b = static_cast<uint8_t>(rng() & 0xff);
  std::vector<uint8_t> s(static_cast<size_t>(rows * 2));
  for (auto& b : s) b = static_cast<uint8_t>(125 + rng() % 5);
  WeightView w{WeightFormat::kMXFP4, rows, cols, q.data(), s.data(), 2};
  std::vector<float> x(static_cast<size_t>(cols), 0.0f);
  for (int64_t c = 0; c < cols; ++c) x[c] = float(c % 7) - 3;
  std::vector<float> y(static_cast<size_t>(rows));
  Linear(w, x.data(), 1, y.data(), nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    double ref = 0;
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t b = q[r * cols / 2 + c / 2];
      uint8_t code = (c % 2 == 0) ? (b & 0xf) : (b >> 4);
      ref += double(E2m1ToFloat(code)) * std::ldexp(1.0, s[r * 2 + c / 32] - 127) * x[c];
    }
    EXPECT_NEAR(y[r], ref, 1e-4 * (1 + std::fabs(ref)));
  }
}

}  // namespace
}  // namespace fm::kernels::cpu
