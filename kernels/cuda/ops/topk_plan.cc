#include "kernels/cuda/ops/topk_plan.h"

#include <algorithm>

namespace fm::kernels::cuda {

TopKPlan PlanTopK(int64_t n, int64_t k, size_t workspace_bytes, int sm_count) {
  TopKPlan plan;
  if (n < kTopKRadixMinN || k <= 0 || k > kTopKRadixMaxK || k > n ||
      workspace_bytes < TopKRadixWorkspaceBytes(k)) {
    return plan;
  }
  plan.radix = true;
  const int64_t per_block = kTopKRadixThreads * kTopKRadixItemsPerThread;
  const int64_t wanted = (n + per_block - 1) / per_block;
  plan.hist_blocks =
      std::max<int64_t>(1, std::min<int64_t>(wanted, 4 * int64_t{std::max(sm_count, 1)}));
  return plan;
}

}  // namespace fm::kernels::cuda
