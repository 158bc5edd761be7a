#pragma once
// Host-side logic of the CUDA copy engine that needs no CUDA (DESIGN.md §2.2, §5): checking ranges
// against the pools, cutting them at pool-chunk boundaries (the cold pool is an arena of 1 GiB
// chunks, so a range may not cross one) and into bounded pieces, turning pieces into the pointer
// arrays of cudaMemcpyBatchAsync, and choosing between the copy engine and the SM-copy kernel.
// Plain C++ so that CI unit-tests it on machines without CUDA.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "scheduler/copy_engine.h"

namespace fm::rt::cuda {

// How a pool's byte offsets map to memory: chunks of chunk_bytes each (the last one may be
// shorter), chunk i starting at bases[i]. A device pool is one chunk.
struct PoolAddressing {
  int64_t total_bytes = 0;
  int64_t chunk_bytes = 0;             // > 0
  absl::Span<std::byte* const> bases;  // ceil(total_bytes / chunk_bytes) entries

  absl::Status Validate(const char* name) const;
  // Address of `offset`; the caller has checked 0 <= offset < total_bytes.
  std::byte* Address(int64_t offset) const {
    return bases[static_cast<size_t>(offset / chunk_bytes)] + offset % chunk_bytes;
  }
};

// Chunk size of a cold pool: the most whole pages that fit in max_chunk_bytes, at least one page,
// so that no page straddles two pinned allocations.
int64_t ColdPoolChunkBytes(int64_t page_bytes, int64_t max_chunk_bytes);

// InvalidArgument naming the direction, the index and the offending range when a range is empty,
// negative or outside its pool, or when there are no ranges or more than max_ranges.
absl::Status ValidateRanges(sched::CopyDirection direction,
                            absl::Span<const sched::CopyRange> ranges, int64_t src_total_bytes,
                            int64_t dst_total_bytes, int64_t max_ranges);

// Appends `ranges` to *out cut so that no piece crosses a chunk boundary of either pool and no
// piece is longer than max_piece_bytes (> 0). Order is kept: pieces of one range stay adjacent.
void SplitRanges(absl::Span<const sched::CopyRange> ranges, int64_t src_chunk_bytes,
                 int64_t dst_chunk_bytes, int64_t max_piece_bytes,
                 std::vector<sched::CopyRange>* out);

// The pointer arrays one cudaMemcpyBatchAsync call takes (also used by the per-range fallback and
// the SM kernel's descriptor table).
struct CopyDescriptors {
  std::vector<void*> dst;
  std::vector<const void*> src;
  std::vector<size_t> bytes;
  void clear() {
    dst.clear();
    src.clear();
    bytes.clear();
  }
};

void BuildDescriptors(absl::Span<const sched::CopyRange> pieces, const PoolAddressing& src_pool,
                      const PoolAddressing& dst_pool, CopyDescriptors* out);

enum class CopyPath : uint8_t {
  kCopyEngineBatch = 0,     // one cudaMemcpyBatchAsync per batch
  kCopyEnginePerRange = 1,  // one cudaMemcpyAsync per piece (the fallback, and a bench baseline)
  kSmKernel = 2,            // one gather/scatter kernel over the pieces (uses SMs, not the CE)
};
const char* CopyPathName(CopyPath path);

// How the engine picks a path per batch. kAuto takes the copy engine, falling back to per-range
// copies when the driver has no batch API, and the SM kernel only when it was asked for: the SM
// variant exists to be compared in `flashmem bench pcie`, and decode compute owns the SMs.
enum class CopyPathPreference : uint8_t {
  kAuto = 0,
  kCopyEngineBatch,
  kCopyEnginePerRange,
  kSmKernel
};

CopyPath ChooseCopyPath(CopyPathPreference preference, bool batch_api_available);

// Piece limit per path. The copy engine needs no cut beyond the chunk boundaries; the SM kernel
// gives each piece to one thread block, so pieces are kept small enough to spread over every SM.
inline constexpr int64_t kSmPieceBytes = int64_t{256} << 10;
inline constexpr int64_t kCePieceBytes = int64_t{1} << 40;  // in effect: no cut
int64_t MaxPieceBytes(CopyPath path);

// Copy-before-publish (DESIGN.md §5 invariant 1): the publish of a generation must wait for every
// batch it depends on. Batches of one direction complete in submission order, so one wait per
// direction, on the latest ticket, covers all of them. Returns those tickets (0, 1 or 2, H2D
// first); invalid tickets are ignored.
std::vector<sched::CopyTicket> PublishWaits(absl::Span<const sched::CopyTicket> depends_on);

}  // namespace fm::rt::cuda
