#pragma once
// The per-row index logic of the GPU decode step's kernels (decode_kernels.cu) as __host__
// __device__ functions: which ring slot a pooling input comes from, which chunks Level 2 may pick,
// which entries a query attends, how one element of an FP8 KV entry decodes. The kernels run
// exactly this code; decode_row_logic_test.cc checks it on the CPU against the CPU forward's
// rules (runtime/model/compressor.cc, attention.cc) and codec (kernels/fp8_entry_codecs.h).
// Plain C++ (no STL): .cu files include this header.

#include <cstdint>

#include "kernels/fp8_entry_codecs.h"
#include "kernels/numeric_formats.h"

namespace fm::rt::cuda {

// The chunk a token at `pos` completes when (pos + 1) % ratio == 0; for other tokens the chunk
// the pooling kernel gathers anyway (never stored): the last complete one, or chunk 0.
FM_HD bool CompletesChunk(int64_t pos, int64_t ratio) { return (pos + 1) % ratio == 0; }
FM_HD int64_t GatheredChunk(int64_t pos, int64_t ratio) {
  const int64_t j = (pos + 1) / ratio - 1;
  return j < 0 ? 0 : j;
}

// Where pooling slot `slot` (of coff * ratio) of chunk j reads from in the compressor ring of
// coff * ratio tokens: coff 2 puts the previous chunk's tokens first, through projection columns
// [0, dim) and masked (-inf score, zero value) for chunk 0; the current chunk's tokens use the
// last dim columns.
struct PoolSlotSource {
  int64_t ring_slot = 0;
  int64_t column = 0;  // first projection column read
  bool masked = false;
};
FM_HD PoolSlotSource PoolSlot(int64_t chunk, int64_t ratio, int64_t coff, int64_t dim,
                              int64_t slot) {
  const int64_t ring = coff * ratio, first = ratio * chunk;
  PoolSlotSource s;
  if (coff == 2 && slot < ratio) {
    const int64_t q = first - ratio + slot;
    s.masked = q < 0;
    s.ring_slot = q < 0 ? 0 : q % ring;
    s.column = 0;
    return s;
  }
  const int64_t q = first + (coff == 2 ? slot - ratio : slot);
  s.ring_slot = q % ring;
  s.column = (coff - 1) * dim;
  return s;
}

// Level-2 candidacy of c4 chunk j for a query at `pos` (spec §5.3): causal (j < (pos+1)/ratio)
// and, on an LSA row, in a page with a hot slot (lut_row: page -> slot, -1 when absent).
FM_HD bool Level2Candidate(int64_t j, int64_t pos, int64_t ratio, bool lsa, const int32_t* lut_row,
                           int64_t n_pages, int64_t chunks_per_page) {
  if (j >= (pos + 1) / ratio) return false;
  if (!lsa) return true;
  const int64_t page = j / chunks_per_page;
  return page < n_pages && lut_row[page] >= 0;
}

// The entries a query at `pos` attends, coded window position q as -(q + 1) and compressed entry
// j as j: the window max(0, pos-window+1)..pos, then the Level-2 picks with a finite score
// (`selected` [k] from a top-k over `scores` with non-candidates at -inf), or, with selected ==
// nullptr, every j < (pos+1)/ratio (HCA; ratio 0: none). At most max_sources; returns the count.
FM_HD int64_t BuildRowSources(int64_t pos, int64_t window, int64_t ratio, const int32_t* selected,
                              int64_t k, const float* scores, int64_t n_scores, int64_t max_sources,
                              int32_t* out) {
  const int64_t lo = pos - window + 1 > 0 ? pos - window + 1 : 0;
  int64_t n = 0;
  for (int64_t q = lo; q <= pos && n < max_sources; ++q) out[n++] = static_cast<int32_t>(-(q + 1));
  if (selected != nullptr) {
    for (int64_t i = 0; i < k && n < max_sources; ++i) {
      const int32_t j = selected[i];
      if (j < 0 || j >= n_scores) continue;
      const float s = scores[j];
      if (s - s != 0.0f) continue;  // -inf (a non-candidate) or NaN: not picked
      out[n++] = j;
    }
  } else if (ratio > 0) {
    const int64_t n_comp = (pos + 1) / ratio;
    for (int64_t j = 0; j < n_comp && n < max_sources; ++j) out[n++] = static_cast<int32_t>(j);
  }
  return n;
}

// Element d of an FP8 KV entry (the arithmetic of kernels::DequantizeKvEntry, one element).
FM_HD float DecodeKvElement(const uint8_t* entry, int64_t nope, int64_t rope, int64_t d) {
  if (d < nope) {
    return kernels::E4m3ToFloat(entry[d]) *
           kernels::E8m0ToFloat(entry[nope + 2 * rope + d / kernels::kKvScaleTile]);
  }
  const int64_t i = d - nope;
  const uint16_t h = static_cast<uint16_t>(entry[nope + 2 * i] | (entry[nope + 2 * i + 1] << 8));
  return kernels::Bf16ToFloat(h);
}

// Byte offset of compressed entry j's cell in the hot pool, or -1 when its page has no slot.
FM_HD int64_t PoolCellOffset(int64_t j, const int32_t* lut_row, int64_t n_pages,
                             int64_t chunks_per_page, int64_t slot_bytes, int64_t block_offset,
                             int64_t entry_bytes) {
  const int64_t page = j / chunks_per_page;
  const int32_t slot = page < n_pages ? lut_row[page] : -1;
  if (slot < 0) return -1;
  return slot * slot_bytes + block_offset + (j % chunks_per_page) * entry_bytes;
}

// The order in which a row's k expert outputs are summed: slots by (expert, slot) ascending, the
// CPU MoE's order (tokens grouped by expert, experts ascending). order[0..k) gets slot indices.
FM_HD void ExpertSumOrder(const int32_t* experts, int64_t k, int32_t* order) {
  for (int64_t s = 0; s < k; ++s) {
    int64_t i = s;
    while (i > 0 && experts[order[i - 1]] > experts[s]) {
      order[i] = order[i - 1];
      --i;
    }
    order[i] = static_cast<int32_t>(s);
  }
}

}  // namespace fm::rt::cuda
