#include "kernels/cuda/ops/linear_plan.h"

#include <initializer_list>

namespace fm::kernels::cuda {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of the GEMV kernel (linear.cu): one warp per weight row, 8 warps per block.
constexpr int kGemvWarps = 8;

}  // namespace

LinearPlan PlanLinear(const LinearShape& s) {
  LinearPlan plan;
  if (s.n_x <= 0 || s.rows <= 0 || s.cols <= 0) return plan;
  if (s.n_x <= kGemvMaxRows) {
    plan.kernel = LinearKernel::kGemv;
    plan.grid_x = CeilDiv(s.rows, kGemvWarps);
    plan.grid_y = 1;
    plan.threads = kGemvWarps * 32;
    return plan;
  }
  plan.kernel = LinearKernel::kGemm;
  plan.threads = kGemmThreads;
  plan.vector_loads = s.cols % 4 == 0 && s.data_aligned_16;
  const int sm_count = s.sm_count > 0 ? s.sm_count : 1;
  plan.tile = 32;
  for (int tile : {128, 64}) {
    if (CeilDiv(s.rows, tile) * CeilDiv(s.n_x, tile) >= sm_count) {
      plan.tile = tile;
      break;
    }
  }
  plan.grid_x = CeilDiv(s.rows, plan.tile);
  plan.grid_y = CeilDiv(s.n_x, plan.tile);
  return plan;
}

}  // namespace fm::kernels::cuda
