// The FP8 codecs both backends run (kernels/fp8_entry_codecs.h: the CPU ops loop over its
// per-entry functions, the CUDA kernels run one entry per thread) against their spec written out
// with libm (log2, ldexp, nearest-value search), independently of the codec's bit-level code; and
// the top-k ordering key the CUDA TopK kernels run (kernels/cuda/device_codecs.h) against the CPU
// TopK.
// Runs everywhere (label unit, no GPU, no nvcc needed).

#include "kernels/cuda/device_codecs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/ops_attention.h"
#include "kernels/cpu/ops_kv_quant.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels {
namespace {

// Values spanning the FP8 range and its edges: zeros, subnormal-scale values, large ones, and
// per-entry magnitudes from 1e-6 to 1e4 so the tile scales vary.
std::vector<float> RandomValues(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> mag(-6, 4);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 97 == 0) {
      v[i] = 0.0f;
    } else if (i % 89 == 0) {
      v[i] = -0.0f;
    } else {
      v[i] = normal(rng) * std::pow(10.0f, static_cast<float>(mag(rng)));
    }
  }
  return v;
}

// The e4m3 code the spec asks for: the nearest finite value, ties to the even code, saturating at
// 448 (the format has no infinity), sign kept.
uint8_t NearestE4m3(float f) {
  static const std::vector<float> kPositive = [] {
    std::vector<float> v;
    for (int c = 0; c < 0x7f; ++c) v.push_back(E4m3ToFloat(static_cast<uint8_t>(c)));
    return v;
  }();
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (a >= kPositive.back()) return sign | 0x7e;
  const size_t hi = static_cast<size_t>(
      std::upper_bound(kPositive.begin(), kPositive.end(), a) - kPositive.begin());
  const size_t lo = hi - 1;
  const double below = double(a) - kPositive[lo], above = double(kPositive[hi]) - a;  // exact
  const size_t code = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<uint8_t>(sign | code);
}

TEST(DeviceCodecs, E4m3EncoderPicksTheNearestCodeOnEveryNonNanFloat) {
  // Every 4099th bit pattern: all exponents, many mantissas, both signs.
  int64_t checked = 0;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4099) {
    const float f = BitsToFloat(static_cast<uint32_t>(u));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToE4m3(f), NearestE4m3(f)) << "bits 0x" << std::hex << u << " value " << f;
    ++checked;
  }
  EXPECT_GT(checked, 1000000);
}

// One KV entry straight from its spec (kernels/backend.h, KvCodecParams): scale 2^e with
// e = ceil(log2(max(amax, 1e-4) / 448)) per 64-dim tile, values times 2^-e as e4m3, RoPE dims as
// little-endian bf16, zero padding.
std::vector<uint8_t> SpecKvEntry(const float* v, int64_t nope, int64_t rope) {
  std::vector<uint8_t> b(static_cast<size_t>(KvEntryBytes(nope, rope)), 0);
  for (int64_t t = 0; t * 64 < nope; ++t) {
    const int64_t d0 = t * 64, d1 = std::min(nope, d0 + 64);
    float amax = 0.0f;
    for (int64_t d = d0; d < d1; ++d) amax = std::max(amax, std::fabs(v[d]));
    const int e =
        static_cast<int>(std::ceil(std::log2(double(std::max(amax, 1e-4f) / 448.0f))));
    b[static_cast<size_t>(nope + 2 * rope + t)] = static_cast<uint8_t>(e + 127);
    for (int64_t d = d0; d < d1; ++d) b[static_cast<size_t>(d)] = FloatToE4m3(std::ldexp(v[d], -e));
  }
  for (int64_t i = 0; i < rope; ++i) {
    const uint16_t h = FloatToBf16(v[nope + i]);
    b[static_cast<size_t>(nope + 2 * i)] = static_cast<uint8_t>(h & 0xff);
    b[static_cast<size_t>(nope + 2 * i + 1)] = static_cast<uint8_t>(h >> 8);
  }
  return b;
}

struct KvShape {
  int64_t nope, rope;
};

class DeviceKvCodec : public ::testing::TestWithParam<KvShape> {};

TEST_P(DeviceKvCodec, CpuOpsQuantizeAndDequantizeAsTheSpecSays) {
  const auto [nope, rope] = GetParam();
  const int64_t n = 64, dim = nope + rope, entry = KvEntryBytes(nope, rope);
  std::vector<float> values = RandomValues(static_cast<size_t>(n * dim), 17);
  // One entry of all zeros (amax floor) and one with a large value in its first tile.
  std::fill(values.begin(), values.begin() + dim, 0.0f);
  values[static_cast<size_t>(dim + 3)] = 3.0e5f;
  std::vector<uint8_t> got(static_cast<size_t>(n * entry), 0xcd);
  ASSERT_EQ(cpu::QuantizeKv({nope, rope, n, values.data(), got.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    const std::vector<uint8_t> want = SpecKvEntry(values.data() + e * dim, nope, rope);
    ASSERT_TRUE(std::equal(want.begin(), want.end(), got.begin() + e * entry)) << "entry " << e;
  }
  std::vector<float> back(values.size(), -2.0f);
  ASSERT_EQ(cpu::DequantizeKv({nope, rope, n, back.data(), got.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    const uint8_t* b = got.data() + e * entry;
    for (int64_t d = 0; d < dim; ++d) {
      const float want =
          d < nope ? std::ldexp(E4m3ToFloat(b[d]), b[nope + 2 * rope + d / 64] - 127)
                   : Bf16ToFloat(static_cast<uint16_t>(b[nope + 2 * (d - nope)] |
                                                       b[nope + 2 * (d - nope) + 1] << 8));
      ASSERT_EQ(FloatToBits(back[static_cast<size_t>(e * dim + d)]), FloatToBits(want))
          << "entry " << e << " dim " << d;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DeviceKvCodec,
                         ::testing::Values(KvShape{448, 64},  // V4-Flash: 584-byte entries
                                           KvShape{100, 6},   // a partial last tile, odd sizes
                                           KvShape{0, 8}, KvShape{64, 0}));

TEST(DeviceCodecs, CpuIndexKeyOpsAsTheSpecSays) {
  const int64_t n = 100, dim = 128, entry = IndexKeyBytes(dim);
  std::vector<float> values = RandomValues(static_cast<size_t>(n * dim), 23);
  std::fill(values.begin(), values.begin() + dim, 0.0f);
  std::vector<uint8_t> got(static_cast<size_t>(n * entry));
  ASSERT_EQ(cpu::QuantizeIndexKey({dim, n, values.data(), got.data()}), OpStatus::kOk);
  std::vector<float> back(values.size());
  ASSERT_EQ(cpu::DequantizeIndexKey({dim, n, back.data(), got.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    // Spec: a plain fp32 scale max(amax, 1e-4) / 448 after dim e4m3 codes of value / scale.
    const float* v = values.data() + e * dim;
    const uint8_t* b = got.data() + e * entry;
    float amax = 0.0f;
    for (int64_t d = 0; d < dim; ++d) amax = std::max(amax, std::fabs(v[d]));
    const float scale = std::max(amax, 1e-4f) / 448.0f;
    float stored;
    std::memcpy(&stored, b + dim, 4);
    ASSERT_EQ(FloatToBits(stored), FloatToBits(scale)) << "entry " << e;
    for (int64_t d = 0; d < dim; ++d) {
      ASSERT_EQ(b[d], FloatToE4m3(v[d] / scale)) << "entry " << e << " dim " << d;
      ASSERT_EQ(FloatToBits(back[static_cast<size_t>(e * dim + d)]),
                FloatToBits(E4m3ToFloat(b[d]) * scale));
    }
  }
}

TEST(DeviceCodecs, TopKKeyOrderReproducesTheCpuTopKWithTies) {
  std::mt19937 rng(5);
  // Few distinct values, so ties are everywhere; -0 and +0 must tie too.
  const float palette[] = {-INFINITY, -2.5f, -0.0f, 0.0f, 1.0f, 1.0f, 3.0e38f, INFINITY, 1e-40f};
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 3000);
    const int64_t k = static_cast<int64_t>(rng() % static_cast<uint32_t>(n + 1));
    std::vector<float> scores(static_cast<size_t>(n));
    for (float& s : scores) s = palette[rng() % 9];
    std::vector<int32_t> want(static_cast<size_t>(k));
    ASSERT_EQ(cpu::TopK({scores.data(), n, k, want.data()}), OpStatus::kOk);
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      keys[static_cast<size_t>(i)] =
          cuda::TopKKey(scores[static_cast<size_t>(i)], static_cast<int32_t>(i));
      ASSERT_EQ(cuda::TopKKeyIndex(keys[static_cast<size_t>(i)]), i);
    }
    std::sort(keys.begin(), keys.end(), std::greater<>());
    std::vector<int32_t> got(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i)
      got[static_cast<size_t>(i)] = cuda::TopKKeyIndex(keys[static_cast<size_t>(i)]);
    ASSERT_EQ(got, want) << "n " << n << " k " << k;
  }
}

}  // namespace
}  // namespace fm::kernels
