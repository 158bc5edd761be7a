#pragma once
// The kernels of the GPU decode step that the KernelBackend ops do not cover: everything whose
// indices depend on device-resident state (positions, the page -> slot LUT, top-k results), so a
// captured graph replays unchanged while positions advance and cycles publish new LUTs. One row
// is one request. Plain declarations: gpu_decode.cc (host C++) includes this.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/weight_view.h"

namespace fm::rt::cuda {

// x[b][s][:] = dequantised embedding row tokens[b], for every stream s < n_hc.
cudaError_t LaunchEmbedRows(const kernels::WeightView& embed, const int32_t* tokens, int64_t batch,
                            int64_t n_hc, float* x, cudaStream_t stream);

// dst[b][positions[b] % ring][:] = src[b][:] (entry_bytes each): the window entry store.
cudaError_t LaunchStoreRingEntry(const uint8_t* src, uint8_t* dst, const int64_t* positions,
                                 int64_t batch, int64_t ring, int64_t entry_bytes,
                                 cudaStream_t stream);

// The compressor ring of one layer (V4_FLASH_LSA.md §4): appends the token's projections
// (score + ape of its chunk offset) at slot p % ring, then gathers the pooling inputs of the
// chunk the token completes (coff 2: the previous chunk's first half, masked for chunk 0; then
// the current chunk's last dims) into values/scores [b][coff*ratio][dim], and chunk_pos[b] =
// ratio * j. Rows whose token completes no chunk gather the latest full window (never read).
struct CompressorStepParams {
  const float* kv = nullptr;     // [B][width]
  const float* score = nullptr;  // [B][width]
  const float* ape = nullptr;    // [ratio][width]
  float* ring_kv = nullptr;      // [B][ring][width]
  float* ring_score = nullptr;
  const int64_t* positions = nullptr;
  int64_t batch = 0, ratio = 0, coff = 1, dim = 0;
  float* values = nullptr;  // [B][coff*ratio][dim]
  float* scores = nullptr;
  int64_t* chunk_pos = nullptr;  // [B]
};
cudaError_t LaunchCompressorStep(const CompressorStepParams& p, cudaStream_t stream);

// Stores the pooled, encoded entry of rows whose token completed chunk j = (p+1)/ratio - 1 into
// store[b][j], and, when `lut` is given and the row is an LSA row whose page j/64 has a slot, into
// its hot-pool cell (the in-graph tail write, DESIGN.md §2.2).
struct StoreCompressedParams {
  const uint8_t* entry = nullptr;  // [B][entry_bytes]
  uint8_t* store = nullptr;        // [B][capacity][entry_bytes]
  const int64_t* positions = nullptr;
  int64_t batch = 0, ratio = 0, capacity = 0, entry_bytes = 0;
  const int32_t* lut = nullptr;  // [B][n_pages] or nullptr
  const int32_t* lsa_rows = nullptr;
  int64_t n_pages = 0, chunks_per_page = 64;
  uint8_t* pool = nullptr;
  int64_t slot_bytes = 0, block_offset = 0;
};
cudaError_t LaunchStoreCompressed(const StoreCompressedParams& p, cudaStream_t stream);

// x[i] *= s for i < n.
cudaError_t LaunchScale(float* x, int64_t n, float s, cudaStream_t stream);
// y[i] += x[i] for i < n.
cudaError_t LaunchAddInPlace(float* y, const float* x, int64_t n, cudaStream_t stream);

// Level-2 candidates (spec §5.3, score-resident by masking): scores[b][j] = -inf for j beyond the
// row's causal count floor((p+1)/4) and, on LSA rows, for chunks whose page has no slot.
struct MaskScoresParams {
  float* scores = nullptr;  // [B][n]
  int64_t batch = 0, n = 0, ratio = 4;
  const int64_t* positions = nullptr;
  const int32_t* lut = nullptr;  // [B][n_pages]
  const int32_t* lsa_rows = nullptr;
  int64_t n_pages = 0, chunks_per_page = 64;
};
cudaError_t LaunchMaskScores(const MaskScoresParams& p, cudaStream_t stream);

// The attended entries of each row, coded window position pos as -(pos + 1) and compressed entry j
// as j: the window max(0, p-W+1)..p, then either the top-k picks with a finite score (CSA:
// `selected` [B][k] in descending score order, `scores` [B][n_scores]) or every j < (p+1)/ratio
// (HCA, selected == nullptr), or nothing (ratio 0).
struct BuildSourcesParams {
  const int64_t* positions = nullptr;
  int64_t batch = 0, window = 0, ratio = 0, max_sources = 0;
  const int32_t* selected = nullptr;
  int64_t k = 0;
  const float* scores = nullptr;
  int64_t n_scores = 0;
  int32_t* sources = nullptr;    // [B][max_sources]
  int32_t* n_sources = nullptr;  // [B]
};
cudaError_t LaunchBuildSources(const BuildSourcesParams& p, cudaStream_t stream);

// gather[b][s][:] = the dequantised entry of sources[b][s] (s < n_sources[b]): window entries from
// the ring, compressed entries from the row's store or, on LSA rows of a CSA layer, from the
// hot-pool cell the LUT names (the bytes LSA paged in). fp8: the 584 B codec; else fp32 entries.
struct GatherSourcesParams {
  const int32_t* sources = nullptr;
  const int32_t* n_sources = nullptr;
  int64_t batch = 0, max_sources = 0, nope = 0, rope = 0, entry_bytes = 0;
  bool fp8 = true;
  const uint8_t* window = nullptr;  // [B][W][entry]
  int64_t window_size = 0;
  const uint8_t* store = nullptr;  // [B][capacity][entry]
  int64_t capacity = 0;
  const int32_t* lut = nullptr;  // non-null on CSA layers with a pool
  const int32_t* lsa_rows = nullptr;
  int64_t n_pages = 0, chunks_per_page = 64;
  const uint8_t* pool = nullptr;
  int64_t slot_bytes = 0, block_offset = 0;
  float* gather = nullptr;  // [B][max_sources][nope + rope]
};
cudaError_t LaunchGatherSources(const GatherSourcesParams& p, cudaStream_t stream);

// One softmax with a sink per (row, head) over the row's n_sources gathered K=V entries
// (kernels/backend.h SinkAttentionParams semantics, with a device-side count).
struct SparseAttentionParams {
  const float* q = nullptr;       // [B][H][D]
  const float* gather = nullptr;  // [B][max_sources][D]
  const int32_t* n_sources = nullptr;
  const float* sink = nullptr;  // [H]
  int64_t batch = 0, n_heads = 0, head_dim = 0, max_sources = 0;
  float scale = 1.0f;
  float* logits = nullptr;  // [B][H][max_sources] scratch
  float* out = nullptr;     // [B][H][D]
};
cudaError_t LaunchSparseAttention(const SparseAttentionParams& p, cudaStream_t stream);

// Hash routing: rows[b][:] = tid2eid[tokens[b]][:] (k experts each).
cudaError_t LaunchHashRows(const int32_t* tid2eid, const int32_t* tokens, int64_t batch, int64_t k,
                           int32_t* rows, cudaStream_t stream);
// scale[e][b] = the routing weight of expert e in row b, 0 when b did not pick e.
cudaError_t LaunchExpertScales(const int32_t* experts, const float* weights, int64_t batch,
                               int64_t k, int64_t n_experts, float* scale, cudaStream_t stream);

// Routed experts without a host round trip: for every (row, slot) pair p < n_pairs, expert
// e = experts[p] and view views[e * 3 + which] (w1, w2, w3 per expert, device memory),
// y[p][o] = sum_c W_e(o, c) * x[p / x_row_div][c] for o < rows (one warp per output row).
struct RoutedGemvParams {
  const kernels::WeightView* views = nullptr;  // device [n_experts][3]
  int32_t which = 0;
  const int32_t* experts = nullptr;  // [n_pairs]
  int64_t n_pairs = 0, rows = 0, cols = 0, x_row_div = 1;
  const float* x = nullptr;
  float* y = nullptr;  // [n_pairs][rows]
};
cudaError_t LaunchRoutedGemv(const RoutedGemvParams& p, cudaStream_t stream);

// out[b][o] = sum of pair_out[b * k + s][o] over the row's k slots in ascending (expert, slot)
// order (the CPU MoE's sum order), starting from 0.
cudaError_t LaunchCombineExperts(const float* pair_out, const int32_t* experts, int64_t batch,
                                 int64_t k, int64_t dim, float* out, cudaStream_t stream);

// End of step: valid rows advance their position; tokens[b] = next_token[b] (greedy feedback; a
// host write of `tokens` before the next launch overrides it).
cudaError_t LaunchAdvanceRows(int64_t* positions, const int32_t* row_valid, int32_t* tokens,
                              const int32_t* next_token, int64_t batch, cudaStream_t stream);

// Deterministic synthetic context for benchmarks: `n` entries of pseudo-random values (normal-ish,
// magnitude `scale`) encoded as fp8 KV entries (rope > 0 or index keys when rope == 0 and
// index_key), or raw fp32, at dst + i * entry_bytes.
cudaError_t LaunchFillSynthetic(uint8_t* dst, int64_t n, int64_t nope, int64_t rope,
                                int64_t entry_bytes, bool fp8, bool index_key, uint64_t seed,
                                float scale, cudaStream_t stream);

}  // namespace fm::rt::cuda
