// Encoders of kernels/numeric_formats.h (used by synth and quantising stores) against the decoders.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "kernels/numeric_formats.h"

namespace fm::kernels {
namespace {

TEST(NumericEncodersTest, E4m3EncodesEveryFiniteCodeExactly) {
  int finite = 0;
  for (int b = 0; b < 256; ++b) {
    const uint8_t code = static_cast<uint8_t>(b);
    const float v = E4m3ToFloat(code);
    if (std::isnan(v)) continue;
    ++finite;
    EXPECT_EQ(FloatToE4m3(v), code) << "code 0x" << std::hex << b << " value " << v;
  }
  EXPECT_EQ(finite, 254);
}

TEST(NumericEncodersTest, E4m3RoundsHalfToEven) {
  // 1.0 = 0x38 and 1.125 = 0x39: the midpoint goes to the even mantissa (1.0).
  EXPECT_EQ(FloatToE4m3(1.0625f), 0x38);
  // 1.125 (odd) and 1.25 (even): midpoint 1.1875 -> 1.25.
  EXPECT_EQ(FloatToE4m3(1.1875f), 0x3a);
  // Just above a midpoint rounds up.
  EXPECT_EQ(FloatToE4m3(1.0626f), 0x39);
  // Subnormals: 2^-9 steps; 1.5 * 2^-9 -> 2 * 2^-9 (even), 0.5 * 2^-9 -> 0.
  EXPECT_EQ(FloatToE4m3(1.5f * 0.001953125f), 0x02);
  EXPECT_EQ(FloatToE4m3(0.5f * 0.001953125f), 0x00);
  // Largest subnormal rounds up into the first normal (2^-6 = 0x08).
  EXPECT_EQ(FloatToE4m3(7.6f * 0.001953125f), 0x08);
  EXPECT_EQ(FloatToE4m3(-1.0625f), 0xb8);
}

TEST(NumericEncodersTest, E4m3SaturatesAndKeepsNan) {
  EXPECT_EQ(FloatToE4m3(448.0f), 0x7e);
  EXPECT_EQ(FloatToE4m3(470.0f), 0x7e);
  EXPECT_EQ(FloatToE4m3(1e30f), 0x7e);
  EXPECT_EQ(FloatToE4m3(-1e30f), 0xfe);
  EXPECT_EQ(FloatToE4m3(INFINITY), 0x7e);
  EXPECT_TRUE(std::isnan(E4m3ToFloat(FloatToE4m3(NAN))));
  EXPECT_EQ(FloatToE4m3(0.0f), 0x00);
  EXPECT_EQ(FloatToE4m3(-0.0f), 0x80);
}

TEST(NumericEncodersTest, E4m3IsNearestForRandomValues) {
  uint32_t s = 12345;
  for (int i = 0; i < 20000; ++i) {
    s = s * 1664525u + 1013904223u;
    const float x = (static_cast<float>(s >> 8) / 16777216.0f - 0.5f) * 900.0f;
    const float q = E4m3ToFloat(FloatToE4m3(x));
    // No finite code is strictly closer than the chosen one.
    for (int b = 0; b < 256; ++b) {
      const float v = E4m3ToFloat(static_cast<uint8_t>(b));
      if (std::isnan(v)) continue;
      ASSERT_LE(std::fabs(q - x), std::fabs(v - x)) << "x=" << x << " chose " << q << " not " << v;
    }
  }
}

TEST(NumericEncodersTest, E2m1EncodesEveryCodeAndRoundsTiesToEven) {
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(FloatToE2m1(E2m1ToFloat(static_cast<uint8_t>(c))), c) << c;
  }
  EXPECT_EQ(FloatToE2m1(0.25f), 0);  // 0 vs 0.5 -> 0
  EXPECT_EQ(FloatToE2m1(0.75f), 2);  // 0.5 vs 1 -> 1
  EXPECT_EQ(FloatToE2m1(1.25f), 2);  // 1 vs 1.5 -> 1
  EXPECT_EQ(FloatToE2m1(1.75f), 4);  // 1.5 vs 2 -> 2
  EXPECT_EQ(FloatToE2m1(2.5f), 4);   // 2 vs 3 -> 2
  EXPECT_EQ(FloatToE2m1(3.5f), 6);   // 3 vs 4 -> 4
  EXPECT_EQ(FloatToE2m1(5.0f), 6);   // 4 vs 6 -> 4
  EXPECT_EQ(FloatToE2m1(5.01f), 7);
  EXPECT_EQ(FloatToE2m1(100.0f), 7);  // saturates at 6
  EXPECT_EQ(FloatToE2m1(-100.0f), 15);
  EXPECT_EQ(FloatToE2m1(-2.9f), 13);  // -3
}

TEST(NumericEncodersTest, E8m0CeilIsTheSmallestPowerOfTwoAtOrAbove) {
  EXPECT_EQ(FloatToE8m0Ceil(1.0f), 127);
  EXPECT_EQ(FloatToE8m0Ceil(1.0001f), 128);
  EXPECT_EQ(FloatToE8m0Ceil(0.5f), 126);
  EXPECT_EQ(FloatToE8m0Ceil(0.75f), 127);
  EXPECT_EQ(FloatToE8m0Ceil(0.0f), 127);
  EXPECT_EQ(FloatToE8m0Ceil(-3.0f), 127);
  EXPECT_EQ(FloatToE8m0Ceil(1e38f), 254);
  EXPECT_EQ(FloatToE8m0Ceil(1e-40f), 0);
  for (int e = -120; e <= 120; ++e) {
    const float p = std::ldexp(1.0f, e);
    EXPECT_EQ(E8m0ToFloat(FloatToE8m0Ceil(p)), p) << e;
  }
}

TEST(NumericEncodersTest, E8m0ScaleForFitsTheBlockWithoutSaturating) {
  const float maxes[] = {448.0f, 449.0f, 1.0f, 0.013f, 3000.0f, 1e-5f};
  for (float m : maxes) {
    const float s = E8m0ToFloat(E8m0ScaleFor(m, 448.0f));
    EXPECT_LE(m / s, 448.0f) << m;
    EXPECT_GT(m / s, 224.0f) << m;  // and it is the tightest power of two
  }
  const float s4 = E8m0ToFloat(E8m0ScaleFor(5.9f, 6.0f));
  EXPECT_EQ(s4, 1.0f);
}

}  // namespace
}  // namespace fm::kernels
