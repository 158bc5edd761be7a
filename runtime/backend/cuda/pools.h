#pragma once
// The two fixed pools the CUDA copy engine moves pages between (DESIGN.md §2.2).
//  - PinnedColdPool: pinned, mapped host memory (cudaHostAlloc), the full KV history. An arena of
//    chunks of at most 1 GiB, each a whole number of pages, allocated once at start-up. A page is
//    one slot-sized block: every CSA layer's KV block back to back (page-major), so one page is one
//    contiguous run and adjacent pages coalesce into one copy.
//  - DeviceHotPool: one cudaMalloc of slots_total slots of the same size.
// Both keep fixed addresses for their whole life (copies and graphs hold raw pointers).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/cuda/copy_batching.h"
#include "scheduler/geometry.h"

namespace fm::rt::cuda {

inline constexpr int64_t kColdPoolMaxChunkBytes = int64_t{1} << 30;

class PinnedColdPool {
 public:
  // `n_pages` pages of `page_bytes`; chunks hold floor(max_chunk_bytes / page_bytes) pages (at
  // least one). InvalidArgument for non-positive sizes, ResourceExhausted when pinning fails.
  static absl::StatusOr<std::unique_ptr<PinnedColdPool>> Create(
      int64_t n_pages, int64_t page_bytes, int64_t max_chunk_bytes = kColdPoolMaxChunkBytes);
  // Pages sized by the geometry's slot (all CSA layers of one page).
  static absl::StatusOr<std::unique_ptr<PinnedColdPool>> Create(int64_t n_pages,
                                                                const sched::GeometryConfig& g);
  ~PinnedColdPool();
  PinnedColdPool(const PinnedColdPool&) = delete;
  PinnedColdPool& operator=(const PinnedColdPool&) = delete;

  int64_t n_pages() const { return n_pages_; }
  int64_t page_bytes() const { return page_bytes_; }
  int64_t total_bytes() const { return n_pages_ * page_bytes_; }
  int64_t chunk_bytes() const { return chunk_bytes_; }
  std::byte* PagePtr(int64_t page) const;
  PoolAddressing addressing() const {
    return PoolAddressing{total_bytes(), chunk_bytes_, absl::MakeConstSpan(chunks_)};
  }

 private:
  PinnedColdPool(int64_t n_pages, int64_t page_bytes, int64_t chunk_bytes)
      : n_pages_(n_pages), page_bytes_(page_bytes), chunk_bytes_(chunk_bytes) {}
  int64_t n_pages_, page_bytes_, chunk_bytes_;
  std::vector<std::byte*> chunks_;
};

class DeviceHotPool {
 public:
  static absl::StatusOr<std::unique_ptr<DeviceHotPool>> Create(int64_t n_slots, int64_t slot_bytes);
  ~DeviceHotPool();
  DeviceHotPool(const DeviceHotPool&) = delete;
  DeviceHotPool& operator=(const DeviceHotPool&) = delete;

  int64_t n_slots() const { return n_slots_; }
  int64_t slot_bytes() const { return slot_bytes_; }
  int64_t total_bytes() const { return n_slots_ * slot_bytes_; }
  std::byte* SlotPtr(int64_t slot) const { return base_[0] + slot * slot_bytes_; }
  PoolAddressing addressing() const {
    return PoolAddressing{total_bytes(), total_bytes(), absl::MakeConstSpan(base_, 1)};
  }

 private:
  DeviceHotPool(int64_t n_slots, int64_t slot_bytes) : n_slots_(n_slots), slot_bytes_(slot_bytes) {}
  int64_t n_slots_, slot_bytes_;
  std::byte* base_[1] = {nullptr};
};

}  // namespace fm::rt::cuda
