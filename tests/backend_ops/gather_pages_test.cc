// Backend-ops parity: CUDA GatherPages against the CPU reference, bit-exact (a copy is either right
// or wrong). Skips, printing FM_GPU_SKIPPED for ctest, when no CUDA device is present.

#include <cuda_runtime_api.h>

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/gather_pages.h"
#include "kernels/cuda/gather_pages.cuh"
#include "tests/backend_ops/device_buffer_test_util.h"

namespace fm::kernels {
namespace {

class GatherPagesParity
    : public test_util::CudaDeviceTest<::testing::TestWithParam<std::pair<int64_t, int64_t>>> {};

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

  const test_util::DeviceArray<uint8_t> d_src(src), d_dst(want.size());
  const test_util::DeviceArray<int32_t> d_index(index);
  ASSERT_EQ(cuda::LaunchGatherPages({d_src.get(), d_dst.get(), d_index.get(), n_pages, page_bytes},
                                    nullptr),
            cudaSuccess);
  EXPECT_EQ(d_dst.Read(), want);
}

// Page sizes: one KV page block (37,376 B), one index-key block (8,448 B), one full slot (784,896 B).
INSTANTIATE_TEST_SUITE_P(Shapes, GatherPagesParity,
                         ::testing::Values(std::make_pair(int64_t{1}, int64_t{37376}),
                                           std::make_pair(int64_t{64}, int64_t{8448}),
                                           std::make_pair(int64_t{7}, int64_t{784896})));

}  // namespace
}  // namespace fm::kernels
