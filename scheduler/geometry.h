#pragma once
// Page geometry and typed indices (DESIGN.md §2.1, spec §3.2). Every conversion between a chunk, a
// page, a slot and a cell lives in this file, so a chunk count can never be passed where a token or
// page count is expected (the reference's LAST_KEEP "tokens" were chunks).

#include <compare>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"

namespace fm::sched {

// A c4 compressed entry position in one request's history (4 tokens per chunk by default).
struct ChunkIndex {
  int64_t v = 0;
  friend auto operator<=>(ChunkIndex, ChunkIndex) = default;
};

// A logical page of one request (`chunks_per_page` consecutive chunks).
struct PageIndex {
  int64_t v = 0;
  friend auto operator<=>(PageIndex, PageIndex) = default;
  template <typename H>
  friend H AbslHashValue(H h, PageIndex p) {
    return H::combine(std::move(h), p.v);
  }
};

// A page-sized place in the GPU hot pool; -1 means "none".
struct SlotId {
  int32_t v = -1;
  bool valid() const { return v >= 0; }
  friend auto operator<=>(SlotId, SlotId) = default;
};

// One chunk position inside the hot pool: slot * chunks_per_page + offset.
struct CellIndex {
  int64_t v = -1;
  friend auto operator<=>(CellIndex, CellIndex) = default;
};

// A page in the pinned host (cold) pool; pages of one request need not be contiguous.
struct ColdPageId {
  int64_t v = -1;
  friend auto operator<=>(ColdPageId, ColdPageId) = default;
};

// Request ids are u32 on the wire (DESIGN.md §6).
struct RequestId {
  uint32_t v = 0;
  friend auto operator<=>(RequestId, RequestId) = default;
  template <typename H>
  friend H AbslHashValue(H h, RequestId r) {
    return H::combine(std::move(h), r.v);
  }
};

// Sizes that define a page and a slot. Defaults are V4-Flash (DESIGN.md §2.1): 21 CSA layers,
// 584 B per KV entry, 132 B per index key, 64 chunks of 4 tokens per page, slot = 784,896 B.
struct GeometryConfig {
  int32_t tokens_per_chunk = 4;         // c4 compression ratio
  int32_t chunks_per_page = 64;         // page = 256 tokens; one Level-1 density unit
  int32_t csa_layers = 21;              // layers whose c4 KV lives in slots
  int32_t kv_entry_bytes = 584;         // 576 data + 7 ue8m0 scales + 1 pad
  int32_t index_key_entry_bytes = 132;  // 128 FP8 + 4 B fp32 scale
  // Path-I (`--index-keys=paged`): index keys of this many non-target layers travel inside the
  // slot after the KV blocks. 0 = index keys stay fully on the GPU (default).
  int32_t paged_index_key_layers = 0;

  // Returns InvalidArgument naming the field and value when a size is not positive or a slot would
  // not fit in int64 arithmetic used by the copy planner.
  absl::Status Validate() const;

  // Bytes of one layer's KV block in a slot: chunks_per_page * kv_entry_bytes (37,376 by default).
  int64_t kv_block_bytes() const { return int64_t{chunks_per_page} * kv_entry_bytes; }
  // Bytes of one layer's index-key block: chunks_per_page * index_key_entry_bytes (8,448).
  int64_t index_key_block_bytes() const { return int64_t{chunks_per_page} * index_key_entry_bytes; }
  // Bytes of one slot: every CSA layer's KV block, page-major, plus the paged index-key blocks
  // (784,896 by default; 936,960 with 18 Path-I layers). One slot is one contiguous run in both
  // the cold and the hot pool, which is what lets adjacent pages coalesce into one copy.
  int64_t slot_bytes() const {
    return int64_t{csa_layers} * kv_block_bytes() +
           int64_t{paged_index_key_layers} * index_key_block_bytes();
  }
  int32_t tokens_per_page() const { return tokens_per_chunk * chunks_per_page; }
};

// --- Conversions (the only place they exist) -------------------------------------------------

// The page holding chunk `c`.
inline PageIndex PageOf(ChunkIndex c, const GeometryConfig& g) {
  return PageIndex{c.v / g.chunks_per_page};
}
// The first chunk of page `p`.
inline ChunkIndex FirstChunkOf(PageIndex p, const GeometryConfig& g) {
  return ChunkIndex{p.v * g.chunks_per_page};
}
// Offset of chunk `c` inside its page, in [0, chunks_per_page).
inline int32_t OffsetInPage(ChunkIndex c, const GeometryConfig& g) {
  return static_cast<int32_t>(c.v % g.chunks_per_page);
}
// The cell holding chunk `c` when its page lives in `slot`.
inline CellIndex CellOf(SlotId slot, ChunkIndex c, const GeometryConfig& g) {
  return CellIndex{int64_t{slot.v} * g.chunks_per_page + OffsetInPage(c, g)};
}
// Completed chunks for a context of `tokens` tokens (a partial chunk is not an entry yet).
inline int64_t ChunksForTokens(int64_t tokens, const GeometryConfig& g) {
  return tokens / g.tokens_per_chunk;
}
// Pages that hold at least one of the first `chunks` chunks: ceil(chunks / chunks_per_page).
inline int64_t PagesForChunks(int64_t chunks, const GeometryConfig& g) {
  return (chunks + g.chunks_per_page - 1) / g.chunks_per_page;
}
// Pages covering a context of `tokens` tokens (pages with content).
inline int64_t PagesForTokens(int64_t tokens, const GeometryConfig& g) {
  return PagesForChunks(ChunksForTokens(tokens, g), g);
}
// Byte offset of a slot in the hot pool and of a cold page in the cold pool.
inline int64_t SlotOffsetBytes(SlotId s, const GeometryConfig& g) {
  return int64_t{s.v} * g.slot_bytes();
}
inline int64_t ColdOffsetBytes(ColdPageId p, const GeometryConfig& g) {
  return p.v * g.slot_bytes();
}

}  // namespace fm::sched
