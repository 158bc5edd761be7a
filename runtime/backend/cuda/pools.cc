#include "runtime/backend/cuda/pools.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_status.h"

namespace fm::rt::cuda {

absl::StatusOr<std::unique_ptr<PinnedColdPool>> PinnedColdPool::Create(int64_t n_pages,
                                                                       int64_t page_bytes,
                                                                       int64_t max_chunk_bytes) {
  if (n_pages <= 0 || page_bytes <= 0 || max_chunk_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PinnedColdPool: n_pages %d, page_bytes %d, max_chunk_bytes %d must all be > 0", n_pages,
        page_bytes, max_chunk_bytes));
  }
  const int64_t chunk_bytes = ColdPoolChunkBytes(page_bytes, max_chunk_bytes);
  std::unique_ptr<PinnedColdPool> pool(new PinnedColdPool(n_pages, page_bytes, chunk_bytes));
  for (int64_t off = 0; off < pool->total_bytes(); off += chunk_bytes) {
    const int64_t bytes = std::min(chunk_bytes, pool->total_bytes() - off);
    void* p = nullptr;
    // Mapped + portable: the SM-copy kernel reads and writes these pages directly.
    if (cudaError_t e = cudaHostAlloc(&p, static_cast<size_t>(bytes),
                                      cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess) {
      cudaGetLastError();
      return absl::ResourceExhaustedError(
          absl::StrFormat("PinnedColdPool: cudaHostAlloc of chunk %d (%d B of %d B) failed: %s",
                          pool->chunks_.size(), bytes, pool->total_bytes(), cudaGetErrorString(e)));
    }
    pool->chunks_.push_back(static_cast<std::byte*>(p));
  }
  return pool;
}

absl::StatusOr<std::unique_ptr<PinnedColdPool>> PinnedColdPool::Create(
    int64_t n_pages, const sched::GeometryConfig& g) {
  FM_RETURN_IF_ERROR(g.Validate());
  return Create(n_pages, g.slot_bytes());
}

PinnedColdPool::~PinnedColdPool() {
  for (std::byte* c : chunks_) cudaFreeHost(c);
}

std::byte* PinnedColdPool::PagePtr(int64_t page) const {
  FM_CHECK(page >= 0 && page < n_pages_);
  return addressing().Address(page * page_bytes_);
}

absl::StatusOr<std::unique_ptr<DeviceHotPool>> DeviceHotPool::Create(int64_t n_slots,
                                                                     int64_t slot_bytes) {
  if (n_slots <= 0 || slot_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "DeviceHotPool: n_slots %d and slot_bytes %d must be > 0", n_slots, slot_bytes));
  }
  std::unique_ptr<DeviceHotPool> pool(new DeviceHotPool(n_slots, slot_bytes));
  void* p = nullptr;
  if (cudaError_t e = cudaMalloc(&p, static_cast<size_t>(pool->total_bytes())); e != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(
        absl::StrFormat("DeviceHotPool: cudaMalloc of %d slots x %d B failed: %s", n_slots,
                        slot_bytes, cudaGetErrorString(e)));
  }
  pool->base_[0] = static_cast<std::byte*>(p);
  return pool;
}

DeviceHotPool::~DeviceHotPool() {
  if (base_[0] != nullptr) cudaFree(base_[0]);
}

}  // namespace fm::rt::cuda
