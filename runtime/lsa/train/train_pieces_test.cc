// Sampling (spec §8 "Samples" / "Weights") and optimizer (AdamW, cosine schedule, gradient clip)
// of the indexer trainer, on hand-made inputs with hand-computed expectations.

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/lsa/train/adamw.h"
#include "runtime/lsa/train/sampling.h"
#include "runtime/lsa/train/train_init.h"
#include "runtime/lsa/train/train_test_util.h"

namespace fm::rt::train {
namespace {

// T tokens; token t's golden chunks are given; positions make chunk visibility (p + 1) / 4.
DocumentLabels Doc(int64_t n_chunks, const std::vector<int64_t>& positions,
                   const std::vector<std::vector<int32_t>>& golden) {
  DocumentLabels d;
  d.n_chunks = n_chunks;
  d.ptr.push_back(0);
  for (size_t t = 0; t < positions.size(); ++t) {
    d.positions.push_back(positions[t]);
    d.visible.push_back(std::min<int64_t>(n_chunks, (positions[t] + 1) / 4));
    for (int32_t c : golden[t]) d.chunks.push_back(c);
    d.ptr.push_back(static_cast<int64_t>(d.chunks.size()));
  }
  MarkTrivialChunks(&d, 0.8);
  return d;
}

TEST(SamplingTest, WindowPositivesAreTheSortedUnionOverTheLookAheadFilteredToVisible) {
  // Positions 39..43: chunks visible 10, 10, 10, 11, 11.
  const DocumentLabels d = Doc(20, {39, 40, 41, 42, 43}, {{3, 1}, {1, 9}, {12}, {5}, {2}});
  EXPECT_EQ(WindowPositives(d, 0, 3, -1), (std::vector<int32_t>{1, 3, 9, 12}));
  EXPECT_EQ(WindowPositives(d, 0, 3, d.visible[0]), (std::vector<int32_t>{1, 3, 9}));
  EXPECT_EQ(WindowPositives(d, 3, 64, -1), (std::vector<int32_t>{2, 5}));  // clipped at T
  EXPECT_EQ(WindowPositives(d, 1, 1, -1), (std::vector<int32_t>{1, 9}));
}

TEST(SamplingTest, NegativesAreThreePerPositiveDisjointAndVisible) {
  std::vector<std::vector<int32_t>> golden(8, std::vector<int32_t>{});
  golden[0] = {4, 7};
  golden[2] = {30, 40};   // 40 is not visible at t = 0 but is excluded from the negatives anyway
  const DocumentLabels d = Doc(64, {160, 161, 162, 163, 164, 165, 166, 167}, golden);
  SamplingOptions o;
  o.tau = 4;
  std::mt19937_64 rng = DerivedRng(1, 2, 3, 4);
  SampleEntries s;
  BuildTrainSample(d, 0, o, rng, &s);
  EXPECT_FALSE(s.pseudo_positive);
  ASSERT_EQ(s.n_pos, 3);  // 4, 7, 30 (40 >= 40 visible)
  EXPECT_EQ(std::vector<int32_t>(s.chunks.begin(), s.chunks.begin() + 3),
            (std::vector<int32_t>{4, 7, 30}));
  ASSERT_EQ(s.chunks.size(), 12u);
  std::set<int32_t> neg(s.chunks.begin() + 3, s.chunks.end());
  EXPECT_EQ(neg.size(), 9u);
  for (int32_t c : neg) {
    EXPECT_LT(c, 40);
    EXPECT_TRUE(c != 4 && c != 7 && c != 30) << c;
  }
  for (size_t i = 0; i < s.chunks.size(); ++i) {
    EXPECT_EQ(s.labels[i], i < 3 ? 1.0f : 0.0f);
    EXPECT_EQ(s.weights[i], 1.0f);
  }
  // The same rng state gives the same sample (what resume relies on).
  std::mt19937_64 rng2 = DerivedRng(1, 2, 3, 4);
  SampleEntries s2;
  BuildTrainSample(d, 0, o, rng2, &s2);
  EXPECT_EQ(s.chunks, s2.chunks);
}

TEST(SamplingTest, NoVisiblePositiveGivesOnePseudoPositiveAndTooManyAreSubsampled) {
  std::vector<std::vector<int32_t>> golden = {{50, 60}, {}};
  const DocumentLabels d = Doc(100, {39, 40}, golden);  // 10 visible at t = 0
  SamplingOptions o;
  std::mt19937_64 rng(9);
  SampleEntries s;
  ASSERT_TRUE(IsTrainableToken(d, 0, o.tau));
  BuildTrainSample(d, 0, o, rng, &s);
  EXPECT_TRUE(s.pseudo_positive);
  ASSERT_EQ(s.n_pos, 1);
  EXPECT_LT(s.chunks[0], 10);
  EXPECT_EQ(s.chunks.size(), 4u);  // 1 + 3 negatives

  std::vector<int32_t> many;
  for (int32_t c = 0; c < 600; ++c) many.push_back(c);
  const DocumentLabels big = Doc(4000, {15999}, {many});
  o.max_pos = 512;
  BuildTrainSample(big, 0, o, rng, &s);
  EXPECT_EQ(s.n_pos, 512);
  EXPECT_EQ(s.chunks.size(), 512u * 4);
  std::set<int32_t> pos(s.chunks.begin(), s.chunks.begin() + 512);
  EXPECT_EQ(pos.size(), 512u);
  for (auto it = s.chunks.begin() + 512; it != s.chunks.end(); ++it) EXPECT_GE(*it, 600);
}

TEST(SamplingTest, ChunksGoldenInMoreThan80PercentOfTokensWeighHalf) {
  // Chunk 2 is golden in 9 of 10 tokens (> 80 %), chunk 3 in 8 of 10 (not more than 80 %).
  std::vector<std::vector<int32_t>> golden(10);
  for (int t = 0; t < 10; ++t) {
    if (t < 9) golden[t].push_back(2);
    if (t < 8) golden[t].push_back(3);
  }
  std::vector<int64_t> pos(10);
  for (int t = 0; t < 10; ++t) pos[t] = 100 + t;
  const DocumentLabels d = Doc(30, pos, golden);
  EXPECT_EQ(d.trivial[2], 1);
  EXPECT_EQ(d.trivial[3], 0);
  SamplingOptions o;
  std::mt19937_64 rng(1);
  SampleEntries s;
  BuildTrainSample(d, 0, o, rng, &s);
  ASSERT_EQ(s.n_pos, 2);
  EXPECT_EQ(s.chunks[0], 2);
  EXPECT_EQ(s.weights[0], 0.5f);
  EXPECT_EQ(s.weights[1], 1.0f);
}

TEST(OptimizerTest, AdamWStepMatchesTheHandComputedUpdate) {
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.01;
  std::vector<float> p = {1.0f, -2.0f}, m = {0, 0}, v = {0, 0};
  const std::vector<float> g = {0.5f, -0.25f};
  AdamWUpdate(o, o.lr, 1, g, &p, &m, &v);
  // Step 1: m = 0.1 g, v = 0.001 g^2, bias-corrected to g and g^2, so the step is lr * sign(g)
  // (up to eps), after decay p *= 1 - lr * wd.
  EXPECT_NEAR(p[0], 1.0 * (1 - 0.001) - 0.1, 1e-6);
  EXPECT_NEAR(p[1], -2.0 * (1 - 0.001) + 0.1, 1e-6);
  EXPECT_NEAR(m[0], 0.05, 1e-7);
  EXPECT_NEAR(v[1], 0.001 * 0.0625, 1e-9);
  // Step 2 with the same gradient: m_hat = g, v_hat = g^2 again.
  const float p0 = p[0];
  AdamWUpdate(o, o.lr, 2, g, &p, &m, &v);
  EXPECT_NEAR(p[0], p0 * (1 - 0.001) - 0.1, 1e-6);
}

TEST(OptimizerTest, CosineScheduleAndGlobalClip) {
  EXPECT_DOUBLE_EQ(CosineLr(1e-4, 0, 100), 1e-4);
  EXPECT_NEAR(CosineLr(1e-4, 50, 100), 0.5e-4, 1e-12);
  EXPECT_NEAR(CosineLr(1e-4, 100, 100), 0.0, 1e-12);
  std::vector<float> a = {3.0f, 0.0f}, b = {4.0f};
  std::vector<std::vector<float>*> g = {&a, &b};
  const double norm = GlobalGradNorm(g);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  EXPECT_NEAR(ClipGradNorm(g, norm, 1.0), 0.2, 1e-6);
  EXPECT_NEAR(GlobalGradNorm(g), 1.0, 1e-5);
  EXPECT_EQ(ClipGradNorm(g, 0.5, 1.0), 1.0);  // below the limit: untouched
}

// Padding of a widened native initialisation: the native block keeps its values (q_norm without
// FromNative's RMS correction), the padded rows become U(+-1/sqrt(fan_in)) so they can learn.
TEST(InitTest, PaddingGetsTorchDefaultInitAndTheNativeBlockIsKept) {
  const ModelConfig c = testing::TinyModelConfig();
  const int64_t HI = 4, qr = 32, H = 6, R = 40, d = c.hidden_size, DI = c.index_head_dim;
  std::mt19937_64 rng(2);
  RetrieverWeights native = testing::RandomRetriever(c, 0, qr, HI, rng);
  // What FromNative builds: zero padding, q_norm scaled by sqrt(qr / R).
  RetrieverWeights w = native;
  w.rank = R;
  w.n_heads = H;
  w.wq_a.assign(static_cast<size_t>(R * d), 0.0f);
  std::copy(native.wq_a.begin(), native.wq_a.end(), w.wq_a.begin());
  w.q_norm.assign(static_cast<size_t>(R), 1.0f);
  for (int64_t i = 0; i < qr; ++i) w.q_norm[i] = native.q_norm[i] * std::sqrt(static_cast<float>(qr) / R);
  w.wq_b.assign(static_cast<size_t>(H * DI * R), 0.0f);
  for (int64_t row = 0; row < HI * DI; ++row)
    std::copy_n(native.wq_b.data() + row * qr, qr, w.wq_b.data() + row * R);
  w.weights_proj.assign(static_cast<size_t>(H * d), 0.0f);
  std::copy(native.weights_proj.begin(), native.weights_proj.end(), w.weights_proj.begin());
  std::vector<RetrieverWeights> layers = {w};
  auto mi = MemoryIndexer::FromWeights(c, std::move(layers));
  ASSERT_TRUE(mi.ok()) << mi.status();
  InitPaddingLikeTorch(mi->get(), HI, qr, 5);
  const RetrieverWeights& got = (*mi)->target(0);
  for (int64_t i = 0; i < qr * d; ++i) ASSERT_EQ(got.wq_a[i], native.wq_a[i]);
  for (int64_t i = qr * d; i < R * d; ++i) {
    ASSERT_LE(std::abs(got.wq_a[i]), 1.0f / std::sqrt(static_cast<float>(d)));
  }
  for (int64_t i = 0; i < qr; ++i) EXPECT_NEAR(got.q_norm[i], native.q_norm[i], 1e-5f);
  for (int64_t i = qr; i < R; ++i) EXPECT_EQ(got.q_norm[i], 1.0f);
  double padded_b = 0;
  for (int64_t row = 0; row < H * DI; ++row) {
    for (int64_t r = 0; r < R; ++r) {
      const float v = got.wq_b[row * R + r];
      if (row < HI * DI && r < qr) {
        ASSERT_EQ(v, native.wq_b[row * qr + r]);
      } else {
        ASSERT_LE(std::abs(v), 1.0f / std::sqrt(static_cast<float>(R)));
        padded_b += std::abs(v);
      }
    }
  }
  EXPECT_GT(padded_b, 0);
  for (int64_t i = HI * d; i < H * d; ++i) EXPECT_NE(got.weights_proj[i], 0.0f);
  // No padding: nothing changes.
  std::vector<RetrieverWeights> same = {native};
  auto plain = MemoryIndexer::FromWeights(c, std::move(same));
  ASSERT_TRUE(plain.ok());
  InitPaddingLikeTorch(plain->get(), HI, qr, 5);
  EXPECT_EQ((*plain)->target(0).wq_b, native.wq_b);
  EXPECT_EQ((*plain)->target(0).q_norm, native.q_norm);
}

}  // namespace
}  // namespace fm::rt::train
