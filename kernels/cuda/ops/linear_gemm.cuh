#pragma once
// Launchers of the CUDA Linear op beyond the GEMV: the tiled GEMM for prefill-sized batches and the
// planned entry point that picks GEMV or GEMM per shape (linear_plan.h). Device pointers, enqueued
// on `stream`, no host sync, no allocation. Plain declarations: host C++ and .cu files include
// this.

#include <cuda_runtime_api.h>

#include "kernels/cuda/ops/linear_plan.h"
#include "kernels/weight_view.h"

namespace fm::kernels::cuda {

// y[n_x][w.rows] = x[n_x][w.cols] W^T by the tiled GEMM with the tile of `plan` (plan.kernel must
// be kGemm; plan.vector_loads only when the shape allows it, see LinearPlan). `w` is a host-side
// view whose data and scale are device pointers. fp32 FMA accumulation over the columns in order,
// so results differ from the CPU's tile sums only by fp32 rounding (parity test: relative L2 <=
// 1e-5). Returns cudaErrorInvalidValue for a plan that does not fit the shape or CUDA's grid
// limits.
cudaError_t LaunchLinearGemm(const WeightView& w, const float* x, int64_t n_x, float* y,
                             const LinearPlan& plan, cudaStream_t stream);

// The Linear op: plans with the current device's multiprocessor count and the pointers' alignment,
// then launches the GEMV (LaunchLinear, ops.cuh) or the GEMM.
cudaError_t LaunchLinearPlanned(const WeightView& w, const float* x, int64_t n_x, float* y,
                                cudaStream_t stream);

}  // namespace fm::kernels::cuda
