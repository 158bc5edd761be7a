#pragma once
// The CUDA TopK op for long score arrays: a radix select spread over the whole GPU (topk_radix.cu),
// and the planned entry point that picks it or the single-block TopK (ops.cuh) per call
// (topk_plan.h). Same result as kernels/cpu TopK, bit for bit: the k best (score, index) keys of
// device_codecs.h, in descending score order, ties to the lower index. Device pointers, enqueued on
// `stream`, no host sync, no allocation: the scratch is the caller's device workspace.

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/backend.h"
#include "kernels/cuda/ops/topk_plan.h"

namespace fm::kernels::cuda {

// Radix path with `plan` (plan.radix must be set). `workspace`: 8-byte aligned device memory of at
// least TopKRadixWorkspaceBytes(p.k) bytes, not used by any other stream while this call's kernels
// run. Returns cudaErrorInvalidValue for a plan or workspace that does not fit.
cudaError_t LaunchTopKRadix(const TopKParams& p, const TopKPlan& plan, void* workspace,
                            size_t workspace_bytes, cudaStream_t stream);

// The TopK op: the radix path when PlanTopK chooses it for this n, k and workspace (null workspace:
// always the single-block kernel).
cudaError_t LaunchTopKPlanned(const TopKParams& p, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);

}  // namespace fm::kernels::cuda
