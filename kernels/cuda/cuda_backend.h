#pragma once
// CudaBackend: KernelBackend (kernels/backend.h) on a GPU. Every pointer in the Params is a device
// pointer, except LinearParams::w, which points to a host WeightView whose data and scale are
// device pointers. Ops enqueue on the backend's stream and return at once (no host sync):
// kBadParams for the checks the CPU op makes (plus the CUDA kernels' size limits, ops.cuh),
// kDeviceError when a launch fails. Results follow the CPU op's documented semantics; the parity
// tests (tests/backend_ops/cuda_backend_parity_test.cc) state the tolerance of each op.
// Known difference: Route with out-of-range hash expert ids routes them to expert -1 with weight
// 0 instead of failing (the ids are on the device; checking them would need a host sync).

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/backend.h"

namespace fm::kernels::cuda {

class CudaBackend final : public KernelBackend {
 public:
  // `stream` (may be the legacy default stream, nullptr) must outlive the backend.
  explicit CudaBackend(cudaStream_t stream) : stream_(stream) {}
  cudaStream_t stream() const { return stream_; }

  // Device scratch for the ops that can use it: today TopK over long score arrays, which needs
  // TopKRadixWorkspaceBytes(k) (kernels/cuda/ops/topk_plan.h). Not owned. Set it once, before any
  // graph capture (captured launches keep the address), and give each backend (stream) its own:
  // ops use it without locking. Without one every op still works (TopK stays single-block).
  void SetWorkspace(void* device_ptr, size_t bytes) {
    workspace_ = device_ptr;
    workspace_bytes_ = device_ptr != nullptr ? bytes : 0;
  }

  FM_KERNEL_BACKEND_OPS(FM_KERNEL_OP_OVERRIDE)  // the ops, listed in kernels/backend.h

 private:
  cudaStream_t stream_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace fm::kernels::cuda
