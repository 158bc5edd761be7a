#include "kernels/cuda/ops/sm_count.h"

#include <atomic>

namespace fm::kernels::cuda {
namespace {

// Per device ordinal, 0 = not asked yet. Ops plan on every call; the attribute never changes.
constexpr int kMaxCachedDevices = 64;
std::atomic<int> cached_sm_count[kMaxCachedDevices];

}  // namespace

cudaError_t CurrentDeviceSmCount(int* sm_count) {
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const bool cacheable = device >= 0 && device < kMaxCachedDevices;
  if (cacheable) {
    if (const int n = cached_sm_count[device].load(std::memory_order_relaxed); n > 0) {
      *sm_count = n;
      return cudaSuccess;
    }
  }
  if (cudaError_t e = cudaDeviceGetAttribute(sm_count, cudaDevAttrMultiProcessorCount, device);
      e != cudaSuccess) {
    return e;
  }
  if (cacheable) cached_sm_count[device].store(*sm_count, std::memory_order_relaxed);
  return cudaSuccess;
}

}  // namespace fm::kernels::cuda
