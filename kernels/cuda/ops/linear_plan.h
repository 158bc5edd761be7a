#pragma once
// Launch plan of the CUDA Linear op (y[n_x][rows] = x[n_x][cols] W^T): which kernel (the
// warp-per-row GEMV of kernels/cuda/linear.cu, or the tiled GEMM of linear_gemm.cu), its tile, grid
// and block, and whether the 4-wide vector loads are legal. Plain C++ with no CUDA headers, so the
// choice is unit tested on machines without nvcc or a GPU
// (tests/backend_ops/cuda_linear_plan_test.cc).

#include <cstdint>

#include "kernels/weight_view.h"

namespace fm::kernels::cuda {

// What the planner needs to know about one call. Alignment flags are for the device pointers (the
// launcher reads them off the pointers; tests set them directly).
struct LinearShape {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0;             // N: output features (weight rows)
  int64_t cols = 0;             // K: input features
  int64_t n_x = 0;              // M: activation rows (tokens)
  bool data_aligned_16 = true;  // weight data, x and y all 16-byte aligned
  int sm_count = 132;           // multiprocessors of the device (H100 SXM / H200: 132)
};

enum class LinearKernel : uint8_t { kNone = 0, kGemv = 1, kGemm = 2 };

struct LinearPlan {
  LinearKernel kernel = LinearKernel::kNone;  // kNone: nothing to compute (n_x or rows is 0)
  int tile = 0;               // GEMM: square output tile edge (32, 64 or 128); 0 for GEMV
  int64_t grid_x = 0;         // GEMM: tiles along rows (N); GEMV: blocks of 8 weight rows
  int64_t grid_y = 0;         // GEMM: tiles along n_x (M); GEMV: 1
  int threads = 0;            // threads per block
  bool vector_loads = false;  // GEMM: 4-element vector loads of x and W (cols % 4 == 0, aligned)
};

// Threads per GEMM block: 16 x 16, each owning a (tile/16)^2 micro-tile of outputs.
inline constexpr int kGemmThreads = 256;
// K depth of one GEMM shared-memory stage. Divides 128 and equals 32, so an FP8 128x128 scale block
// and an MXFP4 32-column scale group never straddle a stage: one scale per loaded chunk.
inline constexpr int kGemmDepth = 32;
static_assert(128 % kGemmDepth == 0 && kGemmDepth % 32 == 0, "stages hold whole scale groups");
// Up to this many activation rows the GEMV wins: it streams W once per 4 rows from DRAM while a
// GEMM tile would sit mostly idle. Above it, the GEMM reads W once per `tile` rows of x. A first
// guess to be replaced by the crossover measured on the GPU (`flashmem bench kernels`).
inline constexpr int64_t kGemvMaxRows = 8;
// CUDA's limit on gridDim.y.
inline constexpr int64_t kMaxGridY = 65535;

// The plan for `s`. Tile choice: the largest tile (fewest re-reads of W and x) that still gives
// every multiprocessor at least one block; when no tile does (small problems), the smallest, which
// spreads the work widest. Never fails: every shape the op accepts gets a plan (the GEMM grid.y is
// at most ceil(n_x / 32), checked by the caller against kMaxGridY).
LinearPlan PlanLinear(const LinearShape& s);

}  // namespace fm::kernels::cuda
