#include "kernels/cpu/linear.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/dequant_avx2.h"
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

namespace fm::kernels::cpu {
namespace {

// The AVX2 tile decoder must agree bit for bit with the scalar reference for every code.
TEST(LinearTest, Avx2DequantIsBitExactForEveryCode) {
  if (!HaveAvx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<uint8_t> codes(256 * 2);
  for (int i = 0; i < 512; ++i) codes[i] = static_cast<uint8_t>(i & 0xff);
  std::vector<uint8_t> scale8(4, 127);
  scale8[1] = 130;
  WeightView fp8{WeightFormat::kFP8Block128, 2, 256, codes.data(), scale8.data(), 2};
  std::vector<uint8_t> scale4(2 * 16, 126);  // [rows][cols / 32]
  WeightView fp4{WeightFormat::kMXFP4, 2, 512, codes.data(), scale4.data(), 16};
  std::vector<uint16_t> halves(512);
  for (int i = 0; i < 512; ++i) halves[i] = static_cast<uint16_t>(i * 127 + 3);
  WeightView bf16{WeightFormat::kBF16, 2, 256, halves.data(), nullptr, 0};
  WeightView f16{WeightFormat::kF16, 2, 256, halves.data(), nullptr, 0};
  for (const WeightView& w : {fp8, fp4, bf16, f16}) {
    for (int64_t row = 0; row < 2; ++row) {
      std::vector<float> ref(static_cast<size_t>(w.cols)), fast(static_cast<size_t>(w.cols));
      DequantRow(w, row, ref.data());
      DequantTileAvx2(w, row, 0, w.cols, fast.data());
      for (int64_t j = 0; j < w.cols; ++j) {
        ASSERT_EQ(FloatToBits(ref[j]), FloatToBits(fast[j]))
            << "format " << int(w.format) << " row " << row << " col " << j;
      }
    }
  }
}

// Decode (GEMV) and prefill (GEMM) must give bit-identical rows, whatever the pool size.
TEST(LinearTest, GemvAndGemmRowsAreBitIdentical) {
  const int64_t rows = 37, cols = 1100;
  std::mt19937 rng(11);
  std::vector<uint16_t> wb(static_cast<size_t>(rows * cols));
  for (auto& v : wb) v = FloatToBf16(std::normal_distribution<float>(0, 0.05f)(rng));
  WeightView w{WeightFormat::kBF16, rows, cols, wb.data(), nullptr, 0};
  const int64_t n_x = 9;
  std::vector<float> x(static_cast<size_t>(n_x * cols));
  for (auto& v : x) v = std::normal_distribution<float>(0, 1)(rng);
  std::vector<float> y_gemm(static_cast<size_t>(n_x * rows)), y_one(static_cast<size_t>(rows));
  ThreadPool pool(2);
  Linear(w, x.data(), n_x, y_gemm.data(), &pool);
  for (int64_t t = 0; t < n_x; ++t) {
    Linear(w, x.data() + t * cols, 1, y_one.data(), nullptr);
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(y_one[r], y_gemm[t * rows + r]) << t << "," << r;
  }
}

}  // namespace
}  // namespace fm::kernels::cpu
