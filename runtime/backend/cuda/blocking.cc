#include "runtime/backend/cuda/blocking.h"

#include <atomic>

namespace fm::rt::cuda {
namespace {

std::atomic<int64_t> g_counts[static_cast<int>(BlockingReason::kCount)];

void Count(BlockingReason reason) {
  g_counts[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

const char* BlockingReasonName(BlockingReason reason) {
  switch (reason) {
    case BlockingReason::kRunAhead:
      return "run_ahead";
    case BlockingReason::kStartup:
      return "startup";
    case BlockingReason::kShutdown:
      return "shutdown";
    case BlockingReason::kEval:
      return "eval";
    case BlockingReason::kCopyWait:
      return "copy_wait";
    case BlockingReason::kBench:
      return "bench";
    case BlockingReason::kCount:
      break;
  }
  return "?";
}

cudaError_t BlockingEventSynchronize(cudaEvent_t event, BlockingReason reason) {
  Count(reason);
  return cudaEventSynchronize(event);
}

cudaError_t BlockingStreamSynchronize(cudaStream_t stream, BlockingReason reason) {
  Count(reason);
  return cudaStreamSynchronize(stream);
}

cudaError_t BlockingDeviceSynchronize(BlockingReason reason) {
  Count(reason);
  return cudaDeviceSynchronize();
}

cudaError_t BlockingMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                           BlockingReason reason) {
  Count(reason);
  return cudaMemcpy(dst, src, bytes, kind);
}

int64_t BlockingCallCount(BlockingReason reason) {
  return g_counts[static_cast<int>(reason)].load(std::memory_order_relaxed);
}

}  // namespace fm::rt::cuda
