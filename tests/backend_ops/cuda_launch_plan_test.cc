// The CUDA ops' launch plans on the CPU (no GPU, no nvcc).
// Linear (kernels/cuda/ops/linear_plan.h): which kernel each shape gets, that the grid covers every
// output exactly once, the tile choice against the multiprocessor count, when vector loads are
// allowed. TopK (kernels/cuda/ops/topk_plan.h): when the multi-block radix path runs, its grid, and
// the workspace it needs.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "kernels/cuda/ops/linear_plan.h"
#include "kernels/cuda/ops/topk_plan.h"

namespace fm::kernels::cuda {
namespace {

LinearShape Shape(int64_t rows, int64_t cols, int64_t n_x, int sm_count = 132) {
  LinearShape s;
  s.format = WeightFormat::kBF16;
  s.rows = rows;
  s.cols = cols;
  s.n_x = n_x;
  s.sm_count = sm_count;
  return s;
}

TEST(CudaLinearPlan, EmptyShapesLaunchNothing) {
  EXPECT_EQ(PlanLinear(Shape(4096, 4096, 0)).kernel, LinearKernel::kNone);
  EXPECT_EQ(PlanLinear(Shape(0, 4096, 7)).kernel, LinearKernel::kNone);
  EXPECT_EQ(PlanLinear(Shape(4096, 0, 300)).kernel, LinearKernel::kNone);
}

TEST(CudaLinearPlan, DecodeBatchesUseTheGemvAndPrefillTheGemm) {
  for (int64_t n_x = 1; n_x <= kGemvMaxRows; ++n_x) {
    const LinearPlan p = PlanLinear(Shape(7168, 4096, n_x));
    EXPECT_EQ(p.kernel, LinearKernel::kGemv) << n_x;
    EXPECT_EQ(p.grid_x, 7168 / 8);  // one warp per weight row, 8 warps per block
    EXPECT_EQ(p.threads, 256);
    EXPECT_EQ(p.tile, 0);
  }
  const LinearPlan p = PlanLinear(Shape(7168, 4096, kGemvMaxRows + 1));
  EXPECT_EQ(p.kernel, LinearKernel::kGemm);
  EXPECT_EQ(p.threads, kGemmThreads);
}

TEST(CudaLinearPlan, LargePrefillTakesTheLargestTile) {
  // 2048 tokens x 4096 outputs: 32 x 16 = 512 tiles of 128, enough for 132 SMs.
  const LinearPlan p = PlanLinear(Shape(4096, 7168, 2048));
  EXPECT_EQ(p.tile, 128);
  EXPECT_EQ(p.grid_x, 32);
  EXPECT_EQ(p.grid_y, 16);
}

TEST(CudaLinearPlan, SmallerProblemsShrinkTheTileToFillTheMachine) {
  // 64 tokens routed to one expert, 2048 outputs: 128-tiles give 16 blocks, 64-tiles 32, so the
  // 32-tile (64 x 2 = 128 blocks) spreads widest.
  EXPECT_EQ(PlanLinear(Shape(2048, 4096, 64)).tile, 32);
  // 300 tokens x 4096 outputs: 128-tiles give 32 x 3 = 96 < 132 blocks, 64-tiles 64 x 5 = 320.
  EXPECT_EQ(PlanLinear(Shape(4096, 4096, 300)).tile, 64);
  // The same shape on a 78-SM part (H20) already fills the machine with 128-tiles.
  EXPECT_EQ(PlanLinear(Shape(4096, 4096, 300, 78)).tile, 128);
  // A zero or unknown multiprocessor count never divides by zero and picks the largest tile.
  EXPECT_EQ(PlanLinear(Shape(4096, 4096, 300, 0)).tile, 128);
}

TEST(CudaLinearPlan, VectorLoadsNeedFourAlignedColumnsAndAlignedPointers) {
  EXPECT_TRUE(PlanLinear(Shape(512, 4096, 100)).vector_loads);
  EXPECT_FALSE(PlanLinear(Shape(512, 4094, 100)).vector_loads);  // a row is not 16-byte aligned
  LinearShape s = Shape(512, 4096, 100);
  s.data_aligned_16 = false;  // a view into the middle of a buffer
  EXPECT_FALSE(PlanLinear(s).vector_loads);
}

TEST(CudaLinearPlan, EveryGemmGridCoversEachOutputOnceWithinCudaLimits) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    LinearShape s = Shape(1 + rng() % 20000, 1 + rng() % 9000, 1 + rng() % 100000,
                          static_cast<int>(1 + rng() % 200));
    s.format = static_cast<WeightFormat>(rng() % 5);
    const LinearPlan p = PlanLinear(s);
    if (s.n_x <= kGemvMaxRows) {
      ASSERT_EQ(p.kernel, LinearKernel::kGemv);
      ASSERT_GE(p.grid_x * 8, s.rows);
      ASSERT_LT((p.grid_x - 1) * 8, s.rows);
      continue;
    }
    ASSERT_EQ(p.kernel, LinearKernel::kGemm);
    ASSERT_TRUE(p.tile == 32 || p.tile == 64 || p.tile == 128) << p.tile;
    // Covers the output, and no block is wholly outside it.
    ASSERT_GE(p.grid_x * p.tile, s.rows);
    ASSERT_GE(p.grid_y * p.tile, s.n_x);
    ASSERT_LT((p.grid_x - 1) * p.tile, s.rows);
    ASSERT_LT((p.grid_y - 1) * p.tile, s.n_x);
    ASSERT_LE(p.grid_y, kMaxGridY);
    ASSERT_EQ(p.vector_loads, s.cols % 4 == 0);
  }
}

TEST(CudaTopKPlan, ShortArraysStaySingleBlock) {
  const size_t ws = TopKRadixWorkspaceBytes(kTopKRadixMaxK);
  EXPECT_FALSE(PlanTopK(kTopKRadixMinN - 1, 512, ws, 132).radix);
  EXPECT_TRUE(PlanTopK(kTopKRadixMinN, 512, ws, 132).radix);
}

TEST(CudaTopKPlan, RadixNeedsAFittingKAndEnoughWorkspace) {
  const int64_t n = 1 << 20;
  EXPECT_EQ(TopKRadixWorkspaceBytes(512), kTopKRadixStateBytes + 512 * 8);
  EXPECT_TRUE(PlanTopK(n, 512, TopKRadixWorkspaceBytes(512), 132).radix);
  EXPECT_FALSE(PlanTopK(n, 512, TopKRadixWorkspaceBytes(512) - 1, 132).radix);
  EXPECT_FALSE(PlanTopK(n, 512, 0, 132).radix);  // no workspace set
  EXPECT_FALSE(PlanTopK(n, 0, TopKRadixWorkspaceBytes(512), 132).radix);
  EXPECT_FALSE(
      PlanTopK(n, kTopKRadixMaxK + 1, TopKRadixWorkspaceBytes(kTopKRadixMaxK + 1), 132).radix);
  EXPECT_TRUE(PlanTopK(n, kTopKRadixMaxK, TopKRadixWorkspaceBytes(kTopKRadixMaxK), 132).radix);
}

TEST(CudaTopKPlan, GridGivesEachThreadAFewScoresAndCapsAtFourBlocksPerSm) {
  const size_t ws = TopKRadixWorkspaceBytes(512);
  const int64_t per_block = kTopKRadixThreads * kTopKRadixItemsPerThread;  // 4096 scores
  // 1M scores: 256 blocks of 4096, under the 4 x 132 cap.
  EXPECT_EQ(PlanTopK(1 << 20, 512, ws, 132).hist_blocks, (1 << 20) / per_block);
  // 16M scores would want 4096 blocks: capped at 4 per multiprocessor.
  EXPECT_EQ(PlanTopK(1 << 24, 512, ws, 132).hist_blocks, 4 * 132);
  EXPECT_EQ(PlanTopK(1 << 24, 512, ws, 0).hist_blocks, 4);  // unknown SM count: still launchable
  // A partial last block still gets a block.
  EXPECT_EQ(PlanTopK(kTopKRadixMinN + 1, 512, ws, 132).hist_blocks, kTopKRadixMinN / per_block + 1);
}

}  // namespace
}  // namespace fm::kernels::cuda
