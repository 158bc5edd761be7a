// Backend-ops parity: CUDA GatherPages against the CPU reference, bit-exact (a copy is either right
// or wrong). Skips, printing FM_GPU_SKIPPED for ctest, when no CUDA device is present.

#include <cuda_runtime_api.h>

#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/gather_pages.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/gather_pages.cuh"

namespace fm::kernels {
namespace {

class GatherPagesParity : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {
 protected:
  void SetUp() override {
    auto dev = FirstCudaDevice();
    if (!dev.ok()) {
      std::printf("FM_GPU_SKIPPED: %s\n", std::string(dev.status().message()).c_str());
      GTEST_SKIP() << dev.status();
    }
  }
};

TEST_P(GatherPagesParity, MatchesCpuBitForBit) {
  const auto [n_pages, page_bytes] = GetParam();
  const int64_t n_src = n_pages * 2 + 3;
  std::mt19937 rng(static_cast<unsigned>(n_pages * 131 + page_bytes));
  std::vector<uint8_t> src(static_cast<size_t>(n_src * page_bytes));
  for (auto& b : src) b = static_cast<uint8_t>(rng());
  std::vector<int32_t> index(static_cast<size_t>(n_pages));
  for (auto& i : index) i = static_cast<int32_t>(rng() % n_src);

  std::vector<uint8_t> want(static_cast<size_t>(n_pages * page_bytes));
  cpu::GatherPages({src.data(), want.data(), index.data(), n_pages, page_bytes});

  uint8_t *d_src = nullptr, *d_dst = nullptr;
  int32_t* d_index = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_src), src.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_dst), want.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_index), index.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_src, src.data(), src.size(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_index, index.data(), index.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cuda::LaunchGatherPages({d_src, d_dst, d_index, n_pages, page_bytes}, nullptr),
            cudaSuccess);
  std::vector<uint8_t> got(want.size());
  ASSERT_EQ(cudaMemcpy(got.data(), d_dst, got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(d_src);
  cudaFree(d_dst);
  cudaFree(d_index);
  EXPECT_EQ(got, want);
}

// Page sizes: one KV page block (37,376 B), one index-key block (8,448 B), one full slot (784,896 B).
INSTANTIATE_TEST_SUITE_P(Shapes, GatherPagesParity,
                         ::testing::Values(std::make_pair(int64_t{1}, int64_t{37376}),
                                           std::make_pair(int64_t{64}, int64_t{8448}),
                                           std::make_pair(int64_t{7}, int64_t{784896})));

}  // namespace
}  // namespace fm::kernels
