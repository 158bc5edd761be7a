// The tiled GEMM of the CUDA Linear op (kernels/cuda/ops/linear_gemm.cu) on the GPU, with every
// tile size and both load paths forced, in every weight format, on shapes with partial tiles (rows,
// tokens and FP8 128-column blocks cut at the edges). Two checks per launch:
//   - bit-exact against the same kernel emulated on the CPU (gemm_tile_emulation.h: the kernel's
//     own phase functions; fmaf is IEEE fused on both sides), so any indexing, race or decode fault
//     on the device shows as a mismatch;
//   - within the fp32 dot-product bound of the CPU Linear (linear_test_util.h) and relative
//     L2 <= 1e-5.
// The planned path through CudaBackend::Linear is covered by the Linear rows of
// cuda_backend_parity_test.cc. Skips, printing FM_GPU_SKIPPED for ctest, when no CUDA device is
// present.

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/cuda/ops/linear_gemm.cuh"
#include "kernels/numeric_formats.h"
#include "tests/backend_ops/device_buffer_test_util.h"
#include "tests/backend_ops/gemm_tile_emulation.h"
#include "tests/backend_ops/linear_test_util.h"

namespace fm::kernels::cuda {
namespace {

using test_util::DeviceArray;

struct GemmCase {
  WeightFormat format;
  int64_t rows, cols, n_x;
};

std::string Name(const ::testing::TestParamInfo<GemmCase>& info) {
  static const char* kNames[] = {"F32", "BF16", "F16", "FP8", "MXFP4"};
  const GemmCase& c = info.param;
  return std::string(kNames[static_cast<int>(c.format)]) + "_" + std::to_string(c.rows) + "x" +
         std::to_string(c.cols) + "_n" + std::to_string(c.n_x);
}

class CudaLinearGemm : public test_util::CudaDeviceTest<::testing::TestWithParam<GemmCase>> {
 protected:
  std::mt19937 rng_{std::random_device{}()};  // fresh inputs every run
};

TEST_P(CudaLinearGemm, EveryTileAndLoadPathMatchesTheEmulationAndTheCpu) {
  const GemmCase c = GetParam();
  test_util::HostWeight hw = test_util::RandomWeight(c.format, c.rows, c.cols, rng_);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(c.n_x * c.cols));
  for (float& v : x) v = normal(rng_);
  std::vector<float> cpu_y(static_cast<size_t>(c.n_x * c.rows)), emulated(cpu_y.size());
  cpu::Linear(hw.view, x.data(), c.n_x, cpu_y.data(), nullptr);
  // Every tile and load path runs the same FMA chain per output, so one emulation serves all.
  test_util::EmulateLinearGemm(hw.view, x.data(), c.n_x, emulated.data(), 32, false);
  test_util::ExpectWithinDotBound(emulated, cpu_y, test_util::AbsProductSums(hw.view, x, c.n_x),
                                  c.cols);

  const DeviceArray<uint8_t> dd(hw.data), ds(hw.scale);
  const DeviceArray<float> dx(x), dy(cpu_y.size());
  WeightView dw = hw.view;
  dw.data = dd.get();
  dw.scale = hw.scale.empty() ? nullptr : ds.get();
  for (int tile : {32, 64, 128}) {
    for (bool vector_loads : {false, true}) {
      if (vector_loads && c.cols % 4 != 0) continue;
      SCOPED_TRACE(::testing::Message() << "tile " << tile << " vector_loads " << vector_loads);
      LinearPlan plan;
      plan.kernel = LinearKernel::kGemm;
      plan.tile = tile;
      plan.threads = kGemmThreads;
      plan.grid_x = (c.rows + tile - 1) / tile;
      plan.grid_y = (c.n_x + tile - 1) / tile;
      plan.vector_loads = vector_loads;
      ASSERT_EQ(cudaMemset(dy.get(), 0xff, cpu_y.size() * 4), cudaSuccess);  // NaN poison
      ASSERT_EQ(LaunchLinearGemm(dw, dx.get(), c.n_x, dy.get(), plan, nullptr), cudaSuccess);
      const std::vector<float> got = dy.Read();
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(FloatToBits(got[i]), FloatToBits(emulated[i]))
            << "output " << i << ": " << got[i] << " vs emulated " << emulated[i];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaLinearGemm,
    ::testing::Values(GemmCase{WeightFormat::kF32, 200, 512, 77},
                      GemmCase{WeightFormat::kF32, 67, 101, 9},  // ragged columns: scalar only
                      GemmCase{WeightFormat::kBF16, 300, 1024, 150},
                      GemmCase{WeightFormat::kBF16, 129, 36, 33},  // K shorter than two stages
                      GemmCase{WeightFormat::kF16, 96, 256, 40},
                      GemmCase{WeightFormat::kFP8Block128, 260, 1000, 130},  // partial 128-blocks
                      GemmCase{WeightFormat::kFP8Block128, 128, 4096, 64},
                      GemmCase{WeightFormat::kMXFP4, 192, 2048, 100},
                      GemmCase{WeightFormat::kMXFP4, 33, 96, 17}),  // 3 scale groups per row
    Name);

// Plans that do not fit the shape are refused before any launch.
TEST(CudaLinearGemmPlan, MismatchedPlansAreRefused) {
  WeightView w;
  w.format = WeightFormat::kBF16;
  w.rows = 256;
  w.cols = 100;
  LinearPlan plan;
  plan.kernel = LinearKernel::kGemm;
  plan.tile = 64;
  plan.threads = kGemmThreads;
  plan.grid_x = 4;
  plan.grid_y = 1;
  float* none = nullptr;
  EXPECT_EQ(LaunchLinearGemm(w, none, 65, none, plan, nullptr), cudaErrorInvalidValue);  // grid_y
  plan.grid_y = 2;
  plan.vector_loads = true;  // with a row length that is not a multiple of 4
  w.cols = 102;
  EXPECT_EQ(LaunchLinearGemm(w, none, 65, none, plan, nullptr), cudaErrorInvalidValue);
  plan.kernel = LinearKernel::kGemv;
  EXPECT_EQ(LaunchLinearGemm(w, none, 65, none, plan, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace fm::kernels::cuda
