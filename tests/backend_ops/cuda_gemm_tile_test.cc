// The Linear GEMM kernel's phases (kernels/cuda/ops/gemm_tile.h) emulated on the CPU
// (gemm_tile_emulation.h), in every weight format, every tile, both load paths, on shapes with
// partial tiles and stages: every output is within the fp32 dot-product bound of the CPU Linear,
// and all tiles and load paths agree bit for bit (each output is the same FMA chain over the
// columns in order). No GPU, no nvcc: this checks the tile indexing, the weight decoding and the
// edge guards that the GPU test (cuda_linear_gemm_test.cc) then holds the device to, bit for bit.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/linear.h"
#include "kernels/numeric_formats.h"
#include "tests/backend_ops/gemm_tile_emulation.h"
#include "tests/backend_ops/linear_test_util.h"

namespace fm::kernels::cuda {
namespace {

struct TileCase {
  WeightFormat format;
  int64_t rows, cols, n_x;
};

class GemmTileEmulation : public ::testing::TestWithParam<TileCase> {};

TEST_P(GemmTileEmulation, AllTilesAndLoadPathsAgreeAndMatchTheCpu) {
  const TileCase c = GetParam();
  std::mt19937 rng(static_cast<unsigned>(c.rows * 7919 + c.cols * 31 + c.n_x));
  test_util::HostWeight hw = test_util::RandomWeight(c.format, c.rows, c.cols, rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(c.n_x * c.cols));
  for (float& v : x) v = normal(rng);
  std::vector<float> cpu_y(static_cast<size_t>(c.n_x * c.rows));
  cpu::Linear(hw.view, x.data(), c.n_x, cpu_y.data(), nullptr);
  const std::vector<double> abs_sums = test_util::AbsProductSums(hw.view, x, c.n_x);

  std::vector<float> first;
  for (int tile : {32, 64, 128}) {
    for (bool vector_loads : {false, true}) {
      if (vector_loads && c.cols % 4 != 0) continue;
      SCOPED_TRACE(::testing::Message() << "tile " << tile << " vector_loads " << vector_loads);
      // NaN: an unwritten output shows. A guard of whole tiles past the end must stay untouched
      // (the kernel's last tile reaches up to tile - 1 rows past n_x).
      std::vector<float> y(cpu_y.size() + static_cast<size_t>(tile * c.rows),
                           BitsToFloat(0x7fc00000u));
      test_util::EmulateLinearGemm(hw.view, x.data(), c.n_x, y.data(), tile, vector_loads);
      for (size_t i = cpu_y.size(); i < y.size(); ++i) {
        ASSERT_EQ(FloatToBits(y[i]), 0x7fc00000u) << "write past the output at " << i;
      }
      y.resize(cpu_y.size());
      test_util::ExpectWithinDotBound(y, cpu_y, abs_sums, c.cols);
      if (first.empty()) {
        first = y;
        continue;
      }
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_EQ(FloatToBits(y[i]), FloatToBits(first[i])) << "output " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemmTileEmulation,
    ::testing::Values(TileCase{WeightFormat::kF32, 70, 200, 45},
                      TileCase{WeightFormat::kF32, 33, 101, 10},  // ragged columns: scalar only
                      TileCase{WeightFormat::kBF16, 65, 36, 40},  // two stages, the second partial
                      TileCase{WeightFormat::kF16, 40, 128, 9},
                      TileCase{WeightFormat::kFP8Block128, 130, 300,
                               20},  // 2 row blocks, partial column block
                      TileCase{WeightFormat::kFP8Block128, 20, 257, 33},  // ragged: scalar only
                      TileCase{WeightFormat::kMXFP4, 40, 96, 37}));

// The chunk loaders decode exactly what the CPU's DequantRow does, on both load paths.
TEST(GemmTileLoaders, WeightChunksEqualDequantRowBitForBit) {
  std::mt19937 rng(5);
  for (WeightFormat f : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16,
                         WeightFormat::kFP8Block128, WeightFormat::kMXFP4}) {
    const int64_t rows = 131, cols = 320;
    test_util::HostWeight hw = test_util::RandomWeight(f, rows, cols, rng);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      cpu::DequantRow(hw.view, r, row.data());
      for (int64_t col = 0; col < cols; col += 16) {
        for (bool vector_loads : {false, true}) {
          float chunk[16];
          switch (f) {
            case WeightFormat::kF32:
              LoadWeightChunk<WeightFormat::kF32, 16>(hw.view, r, col, vector_loads, chunk);
              break;
            case WeightFormat::kBF16:
              LoadWeightChunk<WeightFormat::kBF16, 16>(hw.view, r, col, vector_loads, chunk);
              break;
            case WeightFormat::kF16:
              LoadWeightChunk<WeightFormat::kF16, 16>(hw.view, r, col, vector_loads, chunk);
              break;
            case WeightFormat::kFP8Block128:
              LoadWeightChunk<WeightFormat::kFP8Block128, 16>(hw.view, r, col, vector_loads, chunk);
              break;
            case WeightFormat::kMXFP4:
              LoadWeightChunk<WeightFormat::kMXFP4, 16>(hw.view, r, col, vector_loads, chunk);
              break;
          }
          for (int c = 0; c < 16; ++c) {
            ASSERT_EQ(FloatToBits(chunk[c]), FloatToBits(row[col + c]))
                << "format " << static_cast<int>(f) << " row " << r << " col " << col + c;
          }
        }
      }
      // Past the last row and column: zeros.
      float chunk[4] = {1, 1, 1, 1};
      LoadWeightChunk<WeightFormat::kBF16, 4>(hw.view, rows, 0, true, chunk);
      ASSERT_EQ(chunk[0] + chunk[1] + chunk[2] + chunk[3], 0.0f);
    }
  }
}

}  // namespace
}  // namespace fm::kernels::cuda
