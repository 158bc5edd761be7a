// The per-entry codec and top-k ordering code the CUDA kernels run (kernels/cuda/device_codecs.h,
// __host__ __device__), executed on the CPU against the CPU ops: bit-exact. This is the codec half
// of the CUDA parity checks, and it runs everywhere (label unit, no GPU, no nvcc needed).

#include "kernels/cuda/device_codecs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/ops_attention.h"
#include "kernels/cpu/ops_kv_quant.h"

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

TEST(DeviceCodecs, E4m3EncoderMatchesTheCpuOpsEncoderOnEveryNonNanFloat) {
  // Every 4099th bit pattern: all exponents, many mantissas, both signs.
  int64_t checked = 0;
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4099) {
    const float f = BitsToFloat(static_cast<uint32_t>(u));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToE4m3(f), cpu::FloatToE4m3(f)) << "bits 0x" << std::hex << u;
    ++checked;
  }
  EXPECT_GT(checked, 1000000);
}

struct KvShape {
  int64_t nope, rope;
};

class DeviceKvCodec : public ::testing::TestWithParam<KvShape> {};

TEST_P(DeviceKvCodec, QuantizeAndDequantizeMatchTheCpuOpBitForBit) {
  const auto [nope, rope] = GetParam();
  const int64_t n = 64, dim = nope + rope, entry = KvEntryBytes(nope, rope);
  std::vector<float> values = RandomValues(static_cast<size_t>(n * dim), 17);
  // One entry of all zeros (amax floor) and one with a value past the FP8 range of its scale.
  std::fill(values.begin(), values.begin() + dim, 0.0f);
  values[static_cast<size_t>(dim + 3)] = 3.0e5f;
  std::vector<uint8_t> want(static_cast<size_t>(n * entry), 0xcd), got(want.size(), 0xcd);
  ASSERT_EQ(cpu::QuantizeKv({nope, rope, n, values.data(), want.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    cuda::QuantizeKvEntry(values.data() + e * dim, nope, rope, got.data() + e * entry);
  }
  ASSERT_EQ(got, want);
  std::vector<float> back_want(values.size(), -1.0f), back_got(values.size(), -2.0f);
  ASSERT_EQ(cpu::DequantizeKv({nope, rope, n, back_want.data(), want.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    cuda::DequantizeKvEntry(want.data() + e * entry, nope, rope, back_got.data() + e * dim);
  }
  for (size_t i = 0; i < back_want.size(); ++i) {
    ASSERT_EQ(FloatToBits(back_got[i]), FloatToBits(back_want[i])) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DeviceKvCodec,
                         ::testing::Values(KvShape{448, 64},  // V4-Flash: 584-byte entries
                                           KvShape{100, 6},   // a partial last tile, odd sizes
                                           KvShape{0, 8}, KvShape{64, 0}));

TEST(DeviceCodecs, IndexKeyCodecMatchesTheCpuOpBitForBit) {
  const int64_t n = 100, dim = 128, entry = IndexKeyBytes(dim);
  std::vector<float> values = RandomValues(static_cast<size_t>(n * dim), 23);
  std::fill(values.begin(), values.begin() + dim, 0.0f);
  std::vector<uint8_t> want(static_cast<size_t>(n * entry)), got(want.size());
  ASSERT_EQ(cpu::QuantizeIndexKey({dim, n, values.data(), want.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    cuda::QuantizeIndexKeyEntry(values.data() + e * dim, dim, got.data() + e * entry);
  }
  ASSERT_EQ(got, want);
  std::vector<float> back_want(values.size()), back_got(values.size());
  ASSERT_EQ(cpu::DequantizeIndexKey({dim, n, back_want.data(), want.data()}), OpStatus::kOk);
  for (int64_t e = 0; e < n; ++e) {
    cuda::DequantizeIndexKeyEntry(want.data() + e * entry, dim, back_got.data() + e * dim);
  }
  for (size_t i = 0; i < back_want.size(); ++i) {
    ASSERT_EQ(FloatToBits(back_got[i]), FloatToBits(back_want[i])) << i;
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
