// Per-op tests of the attention-side and MoE CPU ops: compressor softmax pooling, attention with a
// sink, indexer scoring, top-k, routing, clamped SwiGLU and the FP8 KV / index-key codecs.

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/ops_attention.h"
#include "kernels/cpu/ops_kv_quant.h"
#include "kernels/cpu/ops_moe.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> RandomVec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(SoftmaxPoolTest, HandCheckedTwoSlotsAndMaskedSlot) {
  // Feature 0: scores (0, ln 3) -> weights 1/4, 3/4 -> 0.25*1 + 0.75*5 = 4.
  // Feature 1: slot 1 masked -> the value of slot 0.
  const float values[4] = {1.0f, 2.0f, 5.0f, 100.0f};
  const float scores[4] = {0.0f, 7.0f, std::log(3.0f), -kInf};
  float out[2];
  SoftmaxPoolParams p{values, scores, 2, 2, out};
  ASSERT_EQ(SoftmaxPool(p), OpStatus::kOk);
  EXPECT_NEAR(out[0], 4.0f, 1e-6);
  EXPECT_NEAR(out[1], 2.0f, 1e-6);
}

TEST(SinkAttentionTest, MatchesNaiveSoftmaxWithSinkLogit) {
  const int64_t heads = 3, dim = 16, n_kv = 7;
  auto q = RandomVec(heads * dim, 1);
  auto kv = RandomVec(n_kv * dim, 2);
  const float sink[3] = {0.5f, -2.0f, 4.0f};
  std::vector<float> out(heads * dim), scratch(n_kv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  SinkAttentionParams p{q.data(), kv.data(), sink, n_kv, heads, dim, 0, heads, scale, out.data(),
                        scratch.data()};
  ASSERT_EQ(SinkAttention(p), OpStatus::kOk);
  for (int64_t h = 0; h < heads; ++h) {
    // Naive: softmax over n_kv + 1 logits where the last (the sink) has a zero value vector.
    std::vector<double> logits(n_kv + 1);
    for (int64_t s = 0; s < n_kv; ++s) {
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d) dot += q[h * dim + d] * kv[s * dim + d];
      logits[s] = dot * scale;
    }
    logits[n_kv] = sink[h];
    double denom = 0;
    for (double l : logits) denom += std::exp(l);
    for (int64_t d = 0; d < dim; ++d) {
      double want = 0;
      for (int64_t s = 0; s < n_kv; ++s) want += std::exp(logits[s]) / denom * kv[s * dim + d];
      EXPECT_NEAR(out[h * dim + d], want, 1e-5);
    }
  }
}

TEST(SinkAttentionTest, HeadRangeWritesOnlyThoseHeads) {
  const int64_t heads = 4, dim = 4;
  auto q = RandomVec(heads * dim, 3);
  auto kv = RandomVec(2 * dim, 4);
  const float sink[4] = {0, 0, 0, 0};
  std::vector<float> out(heads * dim, 123.0f), scratch(2);
  SinkAttentionParams p{q.data(), kv.data(), sink, 2, heads, dim, 1, 3, 0.5f, out.data(), scratch.data()};
  ASSERT_EQ(SinkAttention(p), OpStatus::kOk);
  EXPECT_EQ(out[0], 123.0f);
  EXPECT_EQ(out[3 * dim], 123.0f);
  EXPECT_NE(out[dim], 123.0f);
}

TEST(IndexerScoreTest, WeightedReluSumForFp32AndFp8Keys) {
  const int64_t heads = 4, dim = 32, n = 9;
  auto q = RandomVec(heads * dim, 5);
  auto w = RandomVec(heads, 6);
  auto keys = RandomVec(n * dim, 7);
  std::vector<float> out(n), out8(n);
  IndexerScoreParams p;
  p.q = q.data();
  p.weights = w.data();
  p.keys_f32 = keys.data();
  p.key_stride = dim;
  p.n_keys = n;
  p.n_heads = heads;
  p.dim = dim;
  p.out = out.data();
  ASSERT_EQ(IndexerScore(p), OpStatus::kOk);
  // FP8 keys: quantise, then score the stored bytes (dim + 4 per key).
  std::vector<uint8_t> bytes(n * IndexKeyBytes(dim));
  IndexKeyCodecParams c{dim, n, keys.data(), bytes.data()};
  ASSERT_EQ(QuantizeIndexKey(c), OpStatus::kOk);
  std::vector<float> deq(n * dim);
  IndexKeyCodecParams dc{dim, n, deq.data(), bytes.data()};
  ASSERT_EQ(DequantizeIndexKey(dc), OpStatus::kOk);
  p.keys_f32 = nullptr;
  p.keys_fp8 = bytes.data();
  p.key_scales = bytes.data() + dim;  // inline after each key
  p.scale_stride = dim + 4;
  p.key_stride = dim + 4;
  p.out = out8.data();
  ASSERT_EQ(IndexerScore(p), OpStatus::kOk);
  for (int64_t j = 0; j < n; ++j) {
    double want = 0, want8 = 0;
    for (int64_t h = 0; h < heads; ++h) {
      double dot = 0, dot8 = 0;
      for (int64_t d = 0; d < dim; ++d) {
        dot += q[h * dim + d] * keys[j * dim + d];
        dot8 += q[h * dim + d] * deq[j * dim + d];
      }
      want += w[h] * std::max(0.0, dot);
      want8 += w[h] * std::max(0.0, dot8);
    }
    EXPECT_NEAR(out[j], want, 1e-4);
    EXPECT_NEAR(out8[j], want8, 1e-4);
  }
}

TEST(TopKTest, DescendingWithTiesToLowerIndex) {
  const float s[7] = {1.0f, 5.0f, 3.0f, 5.0f, -kInf, 3.0f, 0.0f};
  int32_t out[4];
  TopKParams p{s, 7, 4, out};
  ASSERT_EQ(TopK(p), OpStatus::kOk);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 3);
  EXPECT_EQ(out[2], 2);
  EXPECT_EQ(out[3], 5);
  TopKParams all{s, 7, 7, nullptr};
  int32_t out7[7];
  all.out = out7;
  ASSERT_EQ(TopK(all), OpStatus::kOk);
  EXPECT_EQ(out7[6], 4);
  TopKParams bad{s, 7, 8, out7};
  EXPECT_EQ(TopK(bad), OpStatus::kBadParams);
}

TEST(RouteTest, BiasedTopKSelectsByBiasButWeighsByScore) {
  const float logits[4] = {1.0f, 2.0f, 0.5f, -1.0f};
  const float bias[4] = {0.0f, -10.0f, 0.0f, 5.0f};  // expert 1 demoted, expert 3 promoted
  int32_t experts[2];
  float weights[2];
  RouteParams p;
  p.logits = logits;
  p.bias = bias;
  p.n_rows = 1;
  p.n_experts = 4;
  p.k = 2;
  p.score_func = kScoreSqrtSoftplus;
  p.route_scale = 1.5f;
  p.experts = experts;
  p.weights = weights;
  ASSERT_EQ(Route(p), OpStatus::kOk);
  EXPECT_EQ(experts[0], 3);
  EXPECT_EQ(experts[1], 0);
  auto s = [](double x) { return std::sqrt(std::log1p(std::exp(x))); };
  const double sum = s(-1.0) + s(1.0);
  EXPECT_NEAR(weights[0], s(-1.0) / sum * 1.5, 1e-6);
  EXPECT_NEAR(weights[1], s(1.0) / sum * 1.5, 1e-6);
  EXPECT_NEAR(weights[0] + weights[1], 1.5, 1e-6);
}

TEST(RouteTest, HashRoutingUsesTheTableAndIgnoresBias) {
  const float logits[8] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 0.0f, 0.0f, 3.0f};
  const int32_t table[4] = {2, 3, 1, 0};  // two rows x k = 2
  int32_t experts[4];
  float weights[4];
  RouteParams p;
  p.logits = logits;
  p.hash_experts = table;
  p.n_rows = 2;
  p.n_experts = 4;
  p.k = 2;
  p.route_scale = 2.0f;
  p.experts = experts;
  p.weights = weights;
  ASSERT_EQ(Route(p), OpStatus::kOk);
  EXPECT_EQ(experts[0], 2);
  EXPECT_EQ(experts[1], 3);
  EXPECT_EQ(experts[2], 1);
  EXPECT_EQ(experts[3], 0);
  auto s = [](double x) { return std::sqrt(std::log1p(std::exp(x))); };
  EXPECT_NEAR(weights[0], s(0.5) / (s(0.5) + s(-1.0)) * 2.0, 1e-6);
  EXPECT_NEAR(weights[2], s(0.0) / (s(0.0) + s(0.0)) * 2.0, 1e-6);
  const int32_t bad_table[4] = {2, 4, 1, 0};
  p.hash_experts = bad_table;
  EXPECT_EQ(Route(p), OpStatus::kBadParams);
}

TEST(SwigluTest, ClampsGateAboveAndUpBothSides) {
  const float gate[4] = {12.0f, -3.0f, 1.0f, 0.5f};
  const float up[4] = {20.0f, -20.0f, 2.0f, -0.5f};
  const float row_scale[1] = {0.5f};
  float out[4];
  SwigluParams p{gate, up, row_scale, 1, 4, 10.0f, out};
  ASSERT_EQ(Swiglu(p, nullptr), OpStatus::kOk);
  auto silu = [](double x) { return x / (1 + std::exp(-x)); };
  EXPECT_NEAR(out[0], silu(10.0) * 10.0 * 0.5, 1e-4);
  EXPECT_NEAR(out[1], silu(-3.0) * -10.0 * 0.5, 1e-5);
  EXPECT_NEAR(out[2], silu(1.0) * 2.0 * 0.5, 1e-6);
  EXPECT_NEAR(out[3], silu(0.5) * -0.5 * 0.5, 1e-6);
  p.limit = 0.0f;  // no clamp
  ASSERT_EQ(Swiglu(p, nullptr), OpStatus::kOk);
  EXPECT_NEAR(out[0], silu(12.0) * 20.0 * 0.5, 1e-3);
}

TEST(Fp8CodecTest, E4m3EncoderRoundTripsEveryFiniteCode) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;  // NaN codes
    const float v = E4m3ToFloat(static_cast<uint8_t>(c));
    EXPECT_EQ(FloatToE4m3(v), c) << c;
  }
  EXPECT_EQ(FloatToE4m3(1000.0f), 0x7e);      // saturates at 448
  EXPECT_EQ(FloatToE4m3(1.0625f), 0x38);      // tie 1 + 1/16 -> even mantissa (1.0)
  EXPECT_EQ(FloatToE4m3(1.1875f), 0x3a);      // tie 1 + 3/16 -> even mantissa (1.25)
}

TEST(Fp8CodecTest, KvEntryRoundTripWithinFp8Precision) {
  const int64_t nope = 448, rope = 64, n = 3;
  EXPECT_EQ(KvEntryBytes(nope, rope), 584);
  auto v = RandomVec(n * (nope + rope), 11, 3.0f);
  v[5] = 0.0f;
  std::vector<uint8_t> bytes(n * 584);
  std::vector<float> back(v.size());
  KvCodecParams q{nope, rope, n, v.data(), bytes.data()};
  ASSERT_EQ(QuantizeKv(q), OpStatus::kOk);
  KvCodecParams d{nope, rope, n, back.data(), bytes.data()};
  ASSERT_EQ(DequantizeKv(d), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    const float* x = v.data() + e * (nope + rope);
    const float* y = back.data() + e * (nope + rope);
    for (int64_t t = 0; t < 7; ++t) {
      float amax = 0;
      for (int64_t i = t * 64; i < t * 64 + 64; ++i) amax = std::max(amax, std::fabs(x[i]));
      const uint8_t sb = bytes[e * 584 + nope + 2 * rope + t];
      const float scale = E8m0ToFloat(sb);
      EXPECT_EQ(scale, std::exp2(std::ceil(std::log2(amax / 448.0f))));
      for (int64_t i = t * 64; i < t * 64 + 64; ++i) {
        // Half an ulp of 3 mantissa bits (relative 2^-4), or half the subnormal step.
        EXPECT_LE(std::fabs(y[i] - x[i]), std::max(std::fabs(x[i]) / 16.0f, scale * 0.0009765625f));
      }
    }
    for (int64_t i = nope; i < nope + rope; ++i) {
      EXPECT_EQ(y[i], Bf16ToFloat(FloatToBf16(x[i])));
    }
  }
  EXPECT_EQ(back[5], 0.0f);
}

TEST(Fp8CodecTest, KvEntryScaleFloorForAllZeroTile) {
  const int64_t nope = 64, rope = 0;
  std::vector<float> v(64, 0.0f);
  std::vector<uint8_t> bytes(KvEntryBytes(nope, rope));
  EXPECT_EQ(bytes.size(), 72u);  // 64 + 1 scale byte, padded to 8
  KvCodecParams q{nope, rope, 1, v.data(), bytes.data()};
  ASSERT_EQ(QuantizeKv(q), OpStatus::kOk);
  // amax clamped to 1e-4: scale = 2^ceil(log2(1e-4 / 448)) = 2^-22.
  EXPECT_EQ(bytes[64], 127 - 22);
}

TEST(Fp8CodecTest, IndexKeyRoundTripUsesPlainScale) {
  const int64_t dim = 128;
  auto v = RandomVec(dim, 12, 0.3f);
  std::vector<uint8_t> bytes(IndexKeyBytes(dim));
  ASSERT_EQ(bytes.size(), 132u);
  std::vector<float> back(dim);
  IndexKeyCodecParams q{dim, 1, v.data(), bytes.data()};
  ASSERT_EQ(QuantizeIndexKey(q), OpStatus::kOk);
  IndexKeyCodecParams d{dim, 1, back.data(), bytes.data()};
  ASSERT_EQ(DequantizeIndexKey(d), OpStatus::kOk);
  float amax = 0;
  for (float x : v) amax = std::max(amax, std::fabs(x));
  float scale;
  std::memcpy(&scale, bytes.data() + dim, 4);
  EXPECT_FLOAT_EQ(scale, amax / 448.0f);
  for (int64_t i = 0; i < dim; ++i) {
    EXPECT_LE(std::fabs(back[i] - v[i]), std::max(std::fabs(v[i]) / 16.0f, scale * 0.0009765625f));
  }
}

}  // namespace
}  // namespace fm::kernels::cpu
