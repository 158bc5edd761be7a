#pragma once
// The only place the runtime makes the host wait for the GPU (DESIGN.md §4). Every blocking CUDA
// call goes through these wrappers, which count calls by reason, so a gpu test can check that a
// steady-state decode step makes none except `run_ahead`; tests/layering fails on a blocking CUDA
// call anywhere else in runtime/, kernels/, scheduler/, traces/ or tools/.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fm::rt::cuda {

enum class BlockingReason : uint8_t {
  kRunAhead = 0,  // the engine is D steps ahead of the GPU
  kStartup,       // allocation, first uploads
  kShutdown,      // draining streams before freeing
  kEval,          // --deterministic and evaluation paths
  kCopyWait,      // CopyEngine::Wait: a host wait for a copy batch (never on the decode path)
  kBench,         // benchmarks and tools timing device work
  kCount,
};
const char* BlockingReasonName(BlockingReason reason);

cudaError_t BlockingEventSynchronize(cudaEvent_t event, BlockingReason reason);
cudaError_t BlockingStreamSynchronize(cudaStream_t stream, BlockingReason reason);
cudaError_t BlockingDeviceSynchronize(BlockingReason reason);
cudaError_t BlockingMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                           BlockingReason reason);

// Calls made so far with `reason`, process-wide.
int64_t BlockingCallCount(BlockingReason reason);

}  // namespace fm::rt::cuda
