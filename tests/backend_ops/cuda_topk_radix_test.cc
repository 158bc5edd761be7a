// The multi-block radix-select TopK (kernels/cuda/ops/topk_radix.cu) against the CPU TopK, exactly:
// same indices in the same order, on score arrays with heavy ties (few distinct values, +0 and -0,
// all equal), with the plan forced (1 to many blocks, short arrays included) and through
// CudaBackend with and without a workspace. Skips, printing FM_GPU_SKIPPED for ctest, when no CUDA
// device is present.

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/ops/topk_radix.cuh"
#include "tests/backend_ops/device_buffer_test_util.h"

namespace fm::kernels::cuda {
namespace {

using test_util::DeviceArray;

enum class Scores { kNormal, kFewDistinct, kSignedZeros, kAllEqual };

std::vector<float> MakeScores(Scores kind, int64_t n, std::mt19937& rng) {
  std::vector<float> s(static_cast<size_t>(n));
  std::normal_distribution<float> normal(0.0f, 10.0f);
  const float few[] = {-3.5f, -1.0f, 0.25f, 2.0f, 7.0f, 1e30f, -1e-30f};
  for (float& v : s) {
    switch (kind) {
      case Scores::kNormal:
        v = normal(rng);
        break;
      case Scores::kFewDistinct:
        v = few[rng() % 7];
        break;
      case Scores::kSignedZeros:
        v = (rng() % 3 == 0) ? -0.0f : (rng() % 2 ? 0.0f : -1.0f);
        break;
      case Scores::kAllEqual:
        v = 1.5f;
        break;
    }
  }
  return s;
}

std::vector<int32_t> CpuTopK(const std::vector<float>& scores, int64_t k) {
  std::vector<int32_t> out(static_cast<size_t>(k));
  cpu::CpuBackend cpu(nullptr);
  EXPECT_EQ(cpu.TopK({scores.data(), static_cast<int64_t>(scores.size()), k, out.data()}),
            OpStatus::kOk);
  return out;
}

class CudaTopKRadix : public test_util::CudaDeviceTest<> {
 protected:
  std::mt19937 rng_{std::random_device{}()};  // fresh inputs every run
};

TEST_F(CudaTopKRadix, ForcedPlansMatchTheCpuExactly) {
  const DeviceArray<uint8_t> workspace(TopKRadixWorkspaceBytes(kTopKRadixMaxK));
  for (Scores kind :
       {Scores::kNormal, Scores::kFewDistinct, Scores::kSignedZeros, Scores::kAllEqual}) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{5000}, int64_t{70000}, int64_t{1} << 20}) {
      const std::vector<float> scores = MakeScores(kind, n, rng_);
      const DeviceArray<float> d_scores(scores);
      for (int64_t k : {int64_t{1}, int64_t{17}, int64_t{512}, int64_t{2048}}) {
        if (k > n) continue;
        const std::vector<int32_t> want = CpuTopK(scores, k);
        for (int64_t blocks : {int64_t{1}, int64_t{3}, int64_t{256}}) {
          SCOPED_TRACE(::testing::Message() << "kind " << static_cast<int>(kind) << " n " << n
                                            << " k " << k << " blocks " << blocks);
          const DeviceArray<int32_t> d_out(static_cast<size_t>(k));
          TopKPlan plan;
          plan.radix = true;
          plan.hist_blocks = blocks;
          ASSERT_EQ(LaunchTopKRadix({d_scores.get(), n, k, d_out.get()}, plan,
                                    workspace.get(), TopKRadixWorkspaceBytes(k), nullptr),
                    cudaSuccess);
          ASSERT_EQ(d_out.Read(), want);
        }
      }
    }
  }
}

TEST_F(CudaTopKRadix, BackendMatchesWithAndWithoutAWorkspace) {
  const int64_t n = int64_t{1} << 20, k = 512;
  const std::vector<float> scores = MakeScores(Scores::kFewDistinct, n, rng_);
  const std::vector<int32_t> want = CpuTopK(scores, k);
  const DeviceArray<float> d_scores(scores);
  const DeviceArray<uint8_t> workspace(TopKRadixWorkspaceBytes(k));
  for (bool with_workspace : {true, false}) {
    SCOPED_TRACE(with_workspace ? "radix" : "single block");
    CudaBackend gpu(nullptr);
    if (with_workspace) gpu.SetWorkspace(workspace.get(), TopKRadixWorkspaceBytes(k));
    const DeviceArray<int32_t> d_out(static_cast<size_t>(k));
    ASSERT_EQ(gpu.TopK({d_scores.get(), n, k, d_out.get()}), OpStatus::kOk);
    EXPECT_EQ(d_out.Read(), want);
  }
}

// Plans and workspaces that do not fit are refused before any launch.
TEST(CudaTopKRadixPlan, MisfitsAreRefused) {
  float* scores = nullptr;
  int32_t* out = nullptr;
  TopKPlan plan;
  plan.radix = true;
  plan.hist_blocks = 4;
  alignas(8) static uint8_t fake[TopKRadixWorkspaceBytes(64)];  // never dereferenced: refused first
  EXPECT_EQ(LaunchTopKRadix({scores, 1000, 64, out}, plan, fake, TopKRadixWorkspaceBytes(64) - 1,
                            nullptr),
            cudaErrorInvalidValue);  // workspace too small
  EXPECT_EQ(
      LaunchTopKRadix({scores, 1000, kTopKRadixMaxK + 1, out}, plan, fake, sizeof(fake), nullptr),
      cudaErrorInvalidValue);  // k too large
  EXPECT_EQ(LaunchTopKRadix({scores, 1000, 64, out}, plan, fake + 1, sizeof(fake) - 1, nullptr),
            cudaErrorInvalidValue);  // misaligned
  plan.radix = false;
  EXPECT_EQ(LaunchTopKRadix({scores, 1000, 64, out}, plan, fake, sizeof(fake), nullptr),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace fm::kernels::cuda
