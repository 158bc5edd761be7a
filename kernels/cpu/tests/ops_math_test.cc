// Per-op tests of the element-wise CPU ops against direct formula implementations: RMSNorm,
// rotary embedding (and its inverse), YaRN frequencies, Walsh-Hadamard, mHC Sinkhorn / pre / post.

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/ops_hc.h"
#include "kernels/cpu/ops_norm.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::kernels::cpu {
namespace {

std::vector<float> RandomVec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(RmsNormTest, MatchesFormulaWithAndWithoutWeight) {
  ThreadPool pool(3);
  const int64_t rows = 5, dim = 37;
  auto x = RandomVec(rows * dim, 1);
  auto w = RandomVec(dim, 2);
  std::vector<float> y(x.size()), y_nw(x.size());
  RmsNormParams p{x.data(), w.data(), y.data(), rows, dim, 1e-6f};
  ASSERT_EQ(RmsNorm(p, &pool), OpStatus::kOk);
  p.weight = nullptr;
  p.y = y_nw.data();
  ASSERT_EQ(RmsNorm(p, nullptr), OpStatus::kOk);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += x[r * dim + i] * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
    for (int64_t i = 0; i < dim; ++i) {
      EXPECT_NEAR(y[r * dim + i], w[i] * x[r * dim + i] * inv, 1e-5);
      EXPECT_NEAR(y_nw[r * dim + i], x[r * dim + i] * inv, 1e-5);
    }
  }
}

TEST(RmsNormTest, RejectsNullInput) {
  RmsNormParams p;
  EXPECT_EQ(RmsNorm(p, nullptr), OpStatus::kBadParams);
}

TEST(RopeTest, RotatesInterleavedPairsOfTheLastDimsOnly) {
  const int64_t heads = 2, head_dim = 8, pairs = 2;  // RoPE on dims [4, 8)
  auto x = RandomVec(heads * head_dim, 3);
  auto orig = x;
  const float inv_freq[2] = {0.5f, 0.125f};
  const int64_t pos = 7;
  RopeParams p{x.data(), 1, heads, head_dim, head_dim - 2 * pairs, pairs, &pos, inv_freq, false};
  ASSERT_EQ(Rope(p, nullptr), OpStatus::kOk);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t d = 0; d < 4; ++d) EXPECT_EQ(x[h * head_dim + d], orig[h * head_dim + d]);
    for (int64_t i = 0; i < pairs; ++i) {
      const double ang = 7.0 * inv_freq[i];
      const double a = orig[h * head_dim + 4 + 2 * i], b = orig[h * head_dim + 5 + 2 * i];
      EXPECT_NEAR(x[h * head_dim + 4 + 2 * i], a * std::cos(ang) - b * std::sin(ang), 1e-5);
      EXPECT_NEAR(x[h * head_dim + 5 + 2 * i], a * std::sin(ang) + b * std::cos(ang), 1e-5);
    }
  }
}

TEST(RopeTest, InverseUndoesForwardAtLargePositions) {
  ThreadPool pool(2);
  const int64_t rows = 4, dim = 64, pairs = 16;
  std::vector<float> inv_freq(pairs);
  ComputeRopeInvFreq(32, 10000.0, 0, 1.0, 32, 1, inv_freq.data());
  auto x = RandomVec(rows * dim, 4);
  auto orig = x;
  const int64_t pos[rows] = {0, 1, 1000, 1048575};
  RopeParams p{x.data(), rows, 1, dim, dim - 32, pairs, pos, inv_freq.data(), false};
  ASSERT_EQ(Rope(p, &pool), OpStatus::kOk);
  EXPECT_NE(x[rows * dim - 1], orig[rows * dim - 1]);
  p.inverse = true;
  ASSERT_EQ(Rope(p, &pool), OpStatus::kOk);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], orig[i], 1e-5) << i;
}

TEST(RopeFreqTest, PlainTableIsGeometric) {
  std::vector<float> f(32);
  ComputeRopeInvFreq(64, 10000.0, 0, 16.0, 32, 1, f.data());
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(f[i], std::pow(10000.0, -2.0 * i / 64), 1e-6 * f[i] + 1e-12);
}

TEST(RopeFreqTest, YarnBlendsBetweenCorrectionDims) {
  // Flash constants: theta 160000, factor 16, original length 65536, beta 32 / 1.
  const int64_t dim = 64;
  std::vector<float> f(dim / 2);
  ComputeRopeInvFreq(dim, 160000.0, 65536, 16.0, 32.0, 1.0, f.data());
  auto corr = [&](double rot) {
    return dim * std::log(65536.0 / (rot * 2 * M_PI)) / (2 * std::log(160000.0));
  };
  const double low = std::max(0.0, std::floor(corr(32))), high = std::min(63.0, std::ceil(corr(1)));
  EXPECT_EQ(low, 15.0);  // the spec's ramp bounds for Flash
  EXPECT_EQ(high, 25.0);
  for (int i = 0; i < dim / 2; ++i) {
    const double base = std::pow(160000.0, -2.0 * i / dim);
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double want = base / 16.0 * ramp + base * (1.0 - ramp);
    EXPECT_NEAR(f[i], want, 1e-6 * want) << i;
  }
  EXPECT_NEAR(f[0], 1.0, 1e-7);                                   // fast dims untouched
  EXPECT_NEAR(f[31], std::pow(160000.0, -62.0 / 64) / 16, 1e-9);  // slow dims interpolated
}

TEST(HadamardTest, MatchesSylvesterMatrixAndIsOrthonormal) {
  const int64_t n = 16;
  // Explicit Sylvester matrix.
  std::vector<float> h(n * n, 1.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) h[i * n + j] = (__builtin_popcountll(i & j) % 2) ? -1.0f : 1.0f;
  auto x = RandomVec(3 * n, 5);
  auto y = x;
  HadamardParams p{y.data(), 3, n};
  ASSERT_EQ(Hadamard(p, nullptr), OpStatus::kOk);
  for (int64_t v = 0; v < 3; ++v) {
    double norm_x = 0, norm_y = 0;
    for (int64_t j = 0; j < n; ++j) {
      double want = 0;
      for (int64_t i = 0; i < n; ++i) want += x[v * n + i] * h[i * n + j];
      want /= std::sqrt(static_cast<double>(n));
      EXPECT_NEAR(y[v * n + j], want, 1e-5);
      norm_x += x[v * n + j] * x[v * n + j];
      norm_y += y[v * n + j] * y[v * n + j];
    }
    EXPECT_NEAR(norm_x, norm_y, 1e-4 * norm_x);
  }
  // H/sqrt(n) is symmetric and orthonormal, so applying it twice is the identity.
  ASSERT_EQ(Hadamard(p, nullptr), OpStatus::kOk);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

TEST(HadamardTest, RejectsNonPowerOfTwo) {
  float x[12] = {};
  HadamardParams p{x, 1, 12};
  EXPECT_EQ(Hadamard(p, nullptr), OpStatus::kBadParams);
}

TEST(SinkhornTest, FourByFourBecomesDoublyStochasticAndMatchesHandSteps) {
  const float logits[16] = {0.5f, -1.0f, 2.0f, 0.0f,  1.5f, 0.2f, -0.3f, 0.9f,
                            -2.0f, 0.4f, 0.1f, 1.1f, 0.0f, 0.0f, 3.0f,  -1.0f};
  std::vector<float> c(logits, logits + 16);
  const float eps = 1e-6f;
  SinkhornProject(c.data(), 4, 20, eps);
  // Hand-written reference of the same steps, in double.
  double r[4][4];
  for (int i = 0; i < 4; ++i) {
    double mx = -1e30, s = 0;
    for (int j = 0; j < 4; ++j) mx = std::max(mx, static_cast<double>(logits[i * 4 + j]));
    for (int j = 0; j < 4; ++j) s += std::exp(logits[i * 4 + j] - mx);
    for (int j = 0; j < 4; ++j) r[i][j] = std::exp(logits[i * 4 + j] - mx) / s + eps;
  }
  auto cols = [&] {
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int i = 0; i < 4; ++i) s += r[i][j];
      for (int i = 0; i < 4; ++i) r[i][j] /= (s + eps);
    }
  };
  auto rows = [&] {
    for (int i = 0; i < 4; ++i) {
      double s = 0;
      for (int j = 0; j < 4; ++j) s += r[i][j];
      for (int j = 0; j < 4; ++j) r[i][j] /= (s + eps);
    }
  };
  cols();
  for (int it = 1; it < 20; ++it) {
    rows();
    cols();
  }
  for (int i = 0; i < 4; ++i) {
    double row_sum = 0, col_sum = 0;
    for (int j = 0; j < 4; ++j) {
      EXPECT_NEAR(c[i * 4 + j], r[i][j], 1e-5);
      row_sum += c[i * 4 + j];
      col_sum += c[j * 4 + i];
    }
    EXPECT_NEAR(row_sum, 1.0, 1e-3);
    EXPECT_NEAR(col_sum, 1.0, 1e-4);
  }
}

TEST(HcTest, PreAndPostMatchDirectFormulas) {
  ThreadPool pool(2);
  const int64_t rows = 3, hc = 4, dim = 8, mix = (2 + hc) * hc;
  auto x = RandomVec(rows * hc * dim, 6);
  auto raw = RandomVec(rows * mix, 7);
  auto base = RandomVec(mix, 8);
  const float scale[3] = {0.7f, 1.3f, 0.9f};
  std::vector<float> y(rows * dim), post(rows * hc), comb(rows * hc * hc);
  HcPreParams p;
  p.x = x.data();
  p.mixes_raw = raw.data();
  p.scale = scale;
  p.base = base.data();
  p.n_rows = rows;
  p.n_hc = hc;
  p.dim = dim;
  p.n_mix = mix;
  p.sinkhorn_iters = 20;
  p.y = y.data();
  p.post = post.data();
  p.comb = comb.data();
  ASSERT_EQ(HcPre(p, &pool), OpStatus::kOk);
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < hc * dim; ++i) ss += x[r * hc * dim + i] * x[r * hc * dim + i];
    const double rho = 1.0 / std::sqrt(ss / (hc * dim) + 1e-6);
    for (int64_t d = 0; d < dim; ++d) {
      double want = 0;
      for (int64_t i = 0; i < hc; ++i) {
        want += (sig(raw[r * mix + i] * rho * scale[0] + base[i]) + 1e-6) * x[(r * hc + i) * dim + d];
      }
      EXPECT_NEAR(y[r * dim + d], want, 1e-4);
    }
    for (int64_t i = 0; i < hc; ++i) {
      EXPECT_NEAR(post[r * hc + i], 2 * sig(raw[r * mix + hc + i] * rho * scale[1] + base[hc + i]), 1e-5);
    }
    std::vector<float> c(hc * hc);
    for (int64_t k = 0; k < hc * hc; ++k) c[k] = raw[r * mix + 2 * hc + k] * rho * scale[2] + base[2 * hc + k];
    SinkhornProject(c.data(), hc, 20, 1e-6f);
    for (int64_t k = 0; k < hc * hc; ++k) EXPECT_NEAR(comb[r * hc * hc + k], c[k], 1e-5);
  }
  // Post: out_j = post_j * y + sum_i comb[i][j] * x_i (comb transposed onto the streams).
  std::vector<float> out(rows * hc * dim);
  HcPostParams q{y.data(), x.data(), post.data(), comb.data(), rows, hc, dim, out.data()};
  ASSERT_EQ(HcPost(q, &pool), OpStatus::kOk);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < hc; ++j)
      for (int64_t d = 0; d < dim; ++d) {
        double want = post[r * hc + j] * y[r * dim + d];
        for (int64_t i = 0; i < hc; ++i) want += comb[(r * hc + i) * hc + j] * x[(r * hc + i) * dim + d];
        EXPECT_NEAR(out[(r * hc + j) * dim + d], want, 1e-4);
      }
}

TEST(HcTest, HeadModeProducesOnlyTheWeightedSum) {
  const int64_t hc = 4, dim = 4;
  auto x = RandomVec(hc * dim, 9);
  const float raw[4] = {0.1f, -0.2f, 0.3f, 0.0f};
  const float base[4] = {0.0f, 0.5f, -0.5f, 1.0f};
  const float scale[1] = {2.0f};
  std::vector<float> y(dim);
  HcPreParams p;
  p.x = x.data();
  p.mixes_raw = raw;
  p.scale = scale;
  p.base = base;
  p.n_rows = 1;
  p.n_hc = hc;
  p.dim = dim;
  p.n_mix = hc;
  p.y = y.data();
  ASSERT_EQ(HcPre(p, nullptr), OpStatus::kOk);
  double ss = 0;
  for (float v : x) ss += v * v;
  const double rho = 1.0 / std::sqrt(ss / (hc * dim) + 1e-6);
  for (int64_t d = 0; d < dim; ++d) {
    double want = 0;
    for (int64_t i = 0; i < hc; ++i) {
      want += (1.0 / (1.0 + std::exp(-(raw[i] * rho * 2.0 + base[i]))) + 1e-6) * x[i * dim + d];
    }
    EXPECT_NEAR(y[d], want, 1e-5);
  }
}

}  // namespace
}  // namespace fm::kernels::cpu
