// The radix-select TopK of kernels/cuda/ops/topk_radix.cu, its passes run on the CPU with the
// kernels' own pieces (TopKKey / TopKKeyIndex of device_codecs.h, RadixSelectDigit of
// topk_radix_step.h): histogram per pass, digit choice, collection of the keys >= the k-th largest,
// ranking. Must give the CPU TopK's indices in its order exactly, ties included. No GPU, no nvcc.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/device_codecs.h"
#include "kernels/cuda/ops/topk_radix_step.h"

namespace fm::kernels::cuda {
namespace {

std::vector<int32_t> EmulatedRadixTopK(const std::vector<float>& scores, int64_t k) {
  uint64_t prefix = 0, mask = 0;
  uint32_t remaining = static_cast<uint32_t>(k);
  for (int shift = 56; shift >= 0; shift -= 8) {
    uint32_t hist[256] = {};
    for (size_t i = 0; i < scores.size(); ++i) {
      const uint64_t key = TopKKey(scores[i], static_cast<int32_t>(i));
      if ((key & mask) == prefix) ++hist[(key >> shift) & 255u];
    }
    remaining = RadixSelectDigit(hist, remaining, shift, &prefix, &mask);
  }
  std::vector<uint64_t> candidates;
  for (size_t i = 0; i < scores.size(); ++i) {
    const uint64_t key = TopKKey(scores[i], static_cast<int32_t>(i));
    if (key >= prefix) candidates.push_back(key);
  }
  EXPECT_EQ(candidates.size(), static_cast<size_t>(k)) << "the k-th largest key is exact";
  std::vector<int32_t> out(candidates.size());
  for (uint64_t mine : candidates) {
    const auto rank =
        std::count_if(candidates.begin(), candidates.end(), [&](uint64_t o) { return o > mine; });
    out[static_cast<size_t>(rank)] = TopKKeyIndex(mine);
  }
  return out;
}

TEST(TopKRadixSelect, MatchesTheCpuTopKIncludingTies) {
  std::mt19937 rng(11);
  cpu::CpuBackend cpu(nullptr);
  const float few[] = {-3.5f, -1.0f, -0.0f, 0.0f, 0.25f, 2.0f, 1e30f, -1e-30f};
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 5000);
    std::vector<float> scores(static_cast<size_t>(n));
    std::normal_distribution<float> normal(0.0f, 100.0f);
    for (float& s : scores) s = trial % 2 == 0 ? few[rng() % 8] : normal(rng);
    for (int64_t k : {int64_t{1}, n / 3 + 1, n}) {
      std::vector<int32_t> want(static_cast<size_t>(k));
      ASSERT_EQ(cpu.TopK({scores.data(), n, k, want.data()}), OpStatus::kOk);
      ASSERT_EQ(EmulatedRadixTopK(scores, k), want)
          << "trial " << trial << " n " << n << " k " << k;
    }
  }
}

TEST(TopKRadixSelect, DigitChoiceCountsFromTheTop) {
  uint32_t hist[256] = {};
  hist[200] = 3;
  hist[100] = 5;
  hist[7] = 10;
  uint64_t prefix = 0, mask = 0;
  // The 4th largest: 3 keys have digit 200, so it is the 1st of those with digit 100.
  EXPECT_EQ(RadixSelectDigit(hist, 4, 8, &prefix, &mask), 1u);
  EXPECT_EQ(prefix, uint64_t{100} << 8);
  EXPECT_EQ(mask, uint64_t{255} << 8);
  prefix = mask = 0;
  EXPECT_EQ(RadixSelectDigit(hist, 18, 0, &prefix, &mask), 10u);  // the very last key
  EXPECT_EQ(prefix, 7u);
}

}  // namespace
}  // namespace fm::kernels::cuda
