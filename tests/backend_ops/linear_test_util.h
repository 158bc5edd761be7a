#pragma once
// Host helpers of the Linear tests: random weights in every stored format, and the per-output error
// bound of an fp32 dot product. Test-only.
//
// Bound: a sum of K fp32 products in any order is within gamma_K * sum_k |w_k x_k| of the exact
// value (gamma_K = K u / (1 - K u), u = 2^-24), so two such sums differ by at most twice that.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/numeric_formats.h"
#include "kernels/weight_view.h"

namespace fm::kernels::test_util {

// A random weight in `format`: values ~N(0,1) encoded by the format's encoder, scale bytes around
// 2^0 so the products stay in a comfortable fp32 range.
struct HostWeight {
  WeightView view;
  std::vector<uint8_t> data, scale;
};

inline HostWeight RandomWeight(WeightFormat format, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  HostWeight h;
  const size_t n = static_cast<size_t>(rows * cols);
  switch (format) {
    case WeightFormat::kF32:
      h.data.resize(n * 4);
      for (size_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        std::memcpy(h.data.data() + 4 * i, &v, 4);
      }
      break;
    case WeightFormat::kBF16:
    case WeightFormat::kF16:
      h.data.resize(n * 2);
      for (size_t i = 0; i < n; ++i) {
        // F16: a random finite half (exponent field below 31) near 1 in magnitude.
        const uint16_t v =
            format == WeightFormat::kBF16
                ? FloatToBf16(normal(rng))
                : static_cast<uint16_t>((rng() & 0x83ffu) | ((10 + rng() % 10) << 10));
        std::memcpy(h.data.data() + 2 * i, &v, 2);
      }
      break;
    case WeightFormat::kFP8Block128:
      h.data.resize(n);
      for (auto& b : h.data) b = FloatToE4m3(64.0f * normal(rng));
      h.view.scale_cols = (cols + 127) / 128;
      h.scale.resize(static_cast<size_t>((rows + 127) / 128 * h.view.scale_cols));
      for (auto& s : h.scale) s = static_cast<uint8_t>(119 + rng() % 4);
      break;
    case WeightFormat::kMXFP4:
      h.data.resize(n / 2);
      for (auto& b : h.data) {
        b = static_cast<uint8_t>(FloatToE2m1(2.0f * normal(rng)) |
                                 (FloatToE2m1(2.0f * normal(rng)) << 4));
      }
      h.view.scale_cols = cols / 32;
      h.scale.resize(static_cast<size_t>(rows * h.view.scale_cols));
      for (auto& s : h.scale) s = static_cast<uint8_t>(125 + rng() % 4);
      break;
  }
  h.view.format = format;
  h.view.rows = rows;
  h.view.cols = cols;
  h.view.data = h.data.data();
  h.view.scale = h.scale.empty() ? nullptr : h.scale.data();
  return h;
}

// sum_k |w_nk x_mk| for every output, in double: the scale of each output's rounding error.
inline std::vector<double> AbsProductSums(const WeightView& w, const std::vector<float>& x,
                                          int64_t n_x) {
  std::vector<double> out(static_cast<size_t>(n_x * w.rows));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    cpu::DequantRow(w, n, row.data());
    for (int64_t m = 0; m < n_x; ++m) {
      double s = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) s += std::fabs(double(row[k]) * x[m * w.cols + k]);
      out[m * w.rows + n] = s;
    }
  }
  return out;
}

// Every got[i] is a number within twice gamma_K * sum|w x| of want[i], and the relative L2 error
// is at most `rel_l2` (random data sits far inside the worst-case bound: errors grow like sqrt(K)).
inline void ExpectWithinDotBound(const std::vector<float>& got, const std::vector<float>& want,
                                 const std::vector<double>& abs_sums, int64_t k,
                                 double rel_l2 = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  const double ku = static_cast<double>(k) * std::ldexp(1.0, -24);
  const double gamma = 2.0 * ku / (1.0 - ku);
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "output " << i << " not written";
    const double d = double(got[i]) - want[i];
    ASSERT_LE(std::fabs(d), gamma * abs_sums[i] + 1e-30)
        << "output " << i << ": " << got[i] << " vs " << want[i];
    num += d * d;
    den += double(want[i]) * want[i];
  }
  EXPECT_LE(std::sqrt(num / (den > 1e-300 ? den : 1e-300)), rel_l2);
}

}  // namespace fm::kernels::test_util
