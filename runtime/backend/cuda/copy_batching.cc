#include "runtime/backend/cuda/copy_batching.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace fm::rt::cuda {
namespace {

const char* DirName(sched::CopyDirection d) {
  return d == sched::CopyDirection::kHostToDevice ? "h2d" : "d2h";
}

}  // namespace

absl::Status PoolAddressing::Validate(const char* name) const {
  if (total_bytes <= 0 || chunk_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s pool: total_bytes %d and chunk_bytes %d must be > 0", name, total_bytes, chunk_bytes));
  }
  const int64_t chunks = (total_bytes + chunk_bytes - 1) / chunk_bytes;
  if (static_cast<int64_t>(bases.size()) != chunks) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s pool: %d chunk bases, expected %d", name, bases.size(), chunks));
  }
  for (size_t i = 0; i < bases.size(); ++i) {
    if (bases[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s pool: chunk %d has no memory", name, i));
    }
  }
  return absl::OkStatus();
}

int64_t ColdPoolChunkBytes(int64_t page_bytes, int64_t max_chunk_bytes) {
  return std::max<int64_t>(1, max_chunk_bytes / page_bytes) * page_bytes;
}

absl::Status ValidateRanges(sched::CopyDirection direction,
                            absl::Span<const sched::CopyRange> ranges, int64_t src_total_bytes,
                            int64_t dst_total_bytes, int64_t max_ranges) {
  if (ranges.empty() || static_cast<int64_t>(ranges.size()) > max_ranges) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CudaCopyEngine::Submit(%s): %d ranges, expected 1..%d", DirName(direction),
                        ranges.size(), max_ranges));
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const sched::CopyRange& r = ranges[i];
    // Written as subtractions so that huge offsets cannot overflow the sum.
    if (r.bytes <= 0 || r.src_offset_bytes < 0 || r.dst_offset_bytes < 0 ||
        r.src_offset_bytes > src_total_bytes - r.bytes ||
        r.dst_offset_bytes > dst_total_bytes - r.bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CudaCopyEngine::Submit(%s): range %d {src %d, dst %d, bytes %d} is outside the pools "
          "(src pool %d B, dst pool %d B)",
          DirName(direction), i, r.src_offset_bytes, r.dst_offset_bytes, r.bytes, src_total_bytes,
          dst_total_bytes));
    }
  }
  return absl::OkStatus();
}

void SplitRanges(absl::Span<const sched::CopyRange> ranges, int64_t src_chunk_bytes,
                 int64_t dst_chunk_bytes, int64_t max_piece_bytes,
                 std::vector<sched::CopyRange>* out) {
  for (const sched::CopyRange& r : ranges) {
    int64_t done = 0;
    while (done < r.bytes) {
      const int64_t s = r.src_offset_bytes + done;
      const int64_t d = r.dst_offset_bytes + done;
      const int64_t n = std::min({r.bytes - done, src_chunk_bytes - s % src_chunk_bytes,
                                  dst_chunk_bytes - d % dst_chunk_bytes, max_piece_bytes});
      out->push_back(sched::CopyRange{s, d, n});
      done += n;
    }
  }
}

void BuildDescriptors(absl::Span<const sched::CopyRange> pieces, const PoolAddressing& src_pool,
                      const PoolAddressing& dst_pool, CopyDescriptors* out) {
  out->clear();
  out->dst.reserve(pieces.size());
  out->src.reserve(pieces.size());
  out->bytes.reserve(pieces.size());
  for (const sched::CopyRange& p : pieces) {
    out->dst.push_back(dst_pool.Address(p.dst_offset_bytes));
    out->src.push_back(src_pool.Address(p.src_offset_bytes));
    out->bytes.push_back(static_cast<size_t>(p.bytes));
  }
}

const char* CopyPathName(CopyPath path) {
  switch (path) {
    case CopyPath::kCopyEngineBatch:
      return "ce_batch";
    case CopyPath::kCopyEnginePerRange:
      return "ce_per_range";
    case CopyPath::kSmKernel:
      return "sm_kernel";
  }
  return "?";
}

CopyPath ChooseCopyPath(CopyPathPreference preference, bool batch_api_available) {
  switch (preference) {
    case CopyPathPreference::kCopyEnginePerRange:
      return CopyPath::kCopyEnginePerRange;
    case CopyPathPreference::kSmKernel:
      return CopyPath::kSmKernel;
    case CopyPathPreference::kAuto:
    case CopyPathPreference::kCopyEngineBatch:
      return batch_api_available ? CopyPath::kCopyEngineBatch : CopyPath::kCopyEnginePerRange;
  }
  return CopyPath::kCopyEnginePerRange;
}

int64_t MaxPieceBytes(CopyPath path) {
  return path == CopyPath::kSmKernel ? kSmPieceBytes : kCePieceBytes;
}

std::vector<sched::CopyTicket> PublishWaits(absl::Span<const sched::CopyTicket> depends_on) {
  sched::CopyTicket latest[2];
  latest[0].direction = sched::CopyDirection::kHostToDevice;
  latest[1].direction = sched::CopyDirection::kDeviceToHost;
  for (const sched::CopyTicket& t : depends_on) {
    sched::CopyTicket& l = latest[static_cast<int>(t.direction)];
    if (t.valid() && t.seq > l.seq) l = t;
  }
  std::vector<sched::CopyTicket> out;
  for (const sched::CopyTicket& l : latest) {
    if (l.valid()) out.push_back(l);
  }
  return out;
}

}  // namespace fm::rt::cuda
