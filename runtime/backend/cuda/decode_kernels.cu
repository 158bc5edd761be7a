// Kernels of the GPU decode step (decode_kernels.cuh). Small, memory-bound and launched once per
// layer per step; clarity first. The index logic of every row is decode_row_logic.h, unit-tested
// on the CPU.

#include <cmath>

#include "kernels/fp8_entry_codecs.h"
#include "kernels/numeric_formats.h"
#include "runtime/backend/cuda/decode_kernels.cuh"
#include "runtime/backend/cuda/decode_row_logic.h"

namespace fm::rt::cuda {
namespace {

constexpr int kThreads = 256;

int Blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

__device__ float DequantWeight(const kernels::WeightView& w, int64_t row, int64_t col) {
  using kernels::WeightFormat;
  switch (w.format) {
    case WeightFormat::kF32:
      return static_cast<const float*>(w.data)[row * w.cols + col];
    case WeightFormat::kBF16:
      return kernels::Bf16ToFloat(static_cast<const uint16_t*>(w.data)[row * w.cols + col]);
    case WeightFormat::kF16:
      return kernels::F16ToFloat(static_cast<const uint16_t*>(w.data)[row * w.cols + col]);
    case WeightFormat::kFP8Block128: {
      const uint8_t b = static_cast<const uint8_t*>(w.data)[row * w.cols + col];
      return kernels::E4m3ToFloat(b) *
             kernels::E8m0ToFloat(w.scale[(row / 128) * w.scale_cols + col / 128]);
    }
    case WeightFormat::kMXFP4: {
      const uint8_t b = static_cast<const uint8_t*>(w.data)[row * (w.cols / 2) + col / 2];
      const uint8_t code = (col % 2 == 0) ? (b & 0xf) : (b >> 4);
      return kernels::E2m1ToFloat(code) *
             kernels::E8m0ToFloat(w.scale[row * w.scale_cols + col / 32]);
    }
  }
  return 0.0f;
}

__global__ void EmbedKernel(kernels::WeightView w, const int32_t* tokens, int64_t n_hc, float* x) {
  const int64_t b = blockIdx.y;
  const int64_t d = w.cols;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x) {
    const float v = DequantWeight(w, tokens[b], i);
    for (int64_t s = 0; s < n_hc; ++s) x[(b * n_hc + s) * d + i] = v;
  }
}

__global__ void StoreRingEntryKernel(const uint8_t* src, uint8_t* dst, const int64_t* positions,
                                     int64_t ring, int64_t entry_bytes) {
  const int64_t b = blockIdx.x;
  uint8_t* out = dst + (b * ring + positions[b] % ring) * entry_bytes;
  for (int64_t i = threadIdx.x; i < entry_bytes; i += blockDim.x) out[i] = src[b * entry_bytes + i];
}

__global__ void CompressorStepKernel(CompressorStepParams p) {
  const int64_t b = blockIdx.x;
  const int64_t width = p.coff * p.dim, ring = p.coff * p.ratio, pos = p.positions[b];
  float* rk = p.ring_kv + b * ring * width;
  float* rs = p.ring_score + b * ring * width;
  const float* ape = p.ape + (pos % p.ratio) * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
    rk[(pos % ring) * width + i] = p.kv[b * width + i];
    rs[(pos % ring) * width + i] = p.score[b * width + i] + ape[i];
  }
  __syncthreads();
  const int64_t j = GatheredChunk(pos, p.ratio);
  if (threadIdx.x == 0) p.chunk_pos[b] = p.ratio * j;
  const int64_t n_slots = p.coff * p.ratio, D = p.dim;
  float* values = p.values + b * n_slots * D;
  float* scores = p.scores + b * n_slots * D;
  for (int64_t e = threadIdx.x; e < n_slots * D; e += blockDim.x) {
    const PoolSlotSource src = PoolSlot(j, p.ratio, p.coff, D, e / D);
    if (src.masked) {
      values[e] = 0.0f;
      scores[e] = -INFINITY;
    } else {
      values[e] = rk[src.ring_slot * width + src.column + e % D];
      scores[e] = rs[src.ring_slot * width + src.column + e % D];
    }
  }
}

__global__ void StoreCompressedKernel(StoreCompressedParams p) {
  const int64_t b = blockIdx.x, pos = p.positions[b];
  if (!CompletesChunk(pos, p.ratio)) return;
  const int64_t j = GatheredChunk(pos, p.ratio);
  if (j >= p.capacity) return;
  const uint8_t* src = p.entry + b * p.entry_bytes;
  uint8_t* dst = p.store + (b * p.capacity + j) * p.entry_bytes;
  uint8_t* cell = nullptr;
  if (p.lut != nullptr && p.lsa_rows[b] != 0) {
    const int64_t off = PoolCellOffset(j, p.lut + b * p.n_pages, p.n_pages, p.chunks_per_page,
                                       p.slot_bytes, p.block_offset, p.entry_bytes);
    if (off >= 0) cell = p.pool + off;
  }
  for (int64_t i = threadIdx.x; i < p.entry_bytes; i += blockDim.x) {
    dst[i] = src[i];
    if (cell != nullptr) cell[i] = src[i];
  }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) x[i] *= s;
}

__global__ void AddKernel(float* y, const float* x, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] += x[i];
}

__global__ void MaskScoresKernel(MaskScoresParams p) {
  const int64_t b = blockIdx.y, pos = p.positions[b];
  const bool lsa = p.lut != nullptr && p.lsa_rows[b] != 0;
  const int32_t* lut_row = p.lut != nullptr ? p.lut + b * p.n_pages : nullptr;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < p.n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (!Level2Candidate(j, pos, p.ratio, lsa, lut_row, p.n_pages, p.chunks_per_page)) {
      p.scores[b * p.n + j] = -INFINITY;
    }
  }
}

__global__ void BuildSourcesKernel(BuildSourcesParams p) {
  const int64_t b = blockIdx.x;
  if (threadIdx.x != 0) return;  // one short serial list per row
  const int64_t n = BuildRowSources(p.positions[b], p.window, p.ratio,
                                    p.selected != nullptr ? p.selected + b * p.k : nullptr, p.k,
                                    p.scores != nullptr ? p.scores + b * p.n_scores : nullptr,
                                    p.n_scores, p.max_sources, p.sources + b * p.max_sources);
  p.n_sources[b] = static_cast<int32_t>(n);
}

__global__ void GatherSourcesKernel(GatherSourcesParams p) {
  const int64_t b = blockIdx.y, s = blockIdx.x;
  if (s >= p.n_sources[b]) return;
  const int32_t code = p.sources[b * p.max_sources + s];
  const uint8_t* entry = nullptr;
  if (code < 0) {
    const int64_t q = -static_cast<int64_t>(code) - 1;
    entry = p.window + (b * p.window_size + q % p.window_size) * p.entry_bytes;
  } else if (p.lut != nullptr && p.lsa_rows[b] != 0) {
    const int64_t off = PoolCellOffset(code, p.lut + b * p.n_pages, p.n_pages, p.chunks_per_page,
                                       p.slot_bytes, p.block_offset, p.entry_bytes);
    if (off >= 0) entry = p.pool + off;
  } else {
    entry = p.store + (b * p.capacity + code) * p.entry_bytes;
  }
  const int64_t D = p.nope + p.rope;
  float* out = p.gather + (b * p.max_sources + s) * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float v = 0.0f;  // a non-resident pick cannot happen (masked before top-k); zeros if it did
    if (entry != nullptr) {
      v = p.fp8 ? DecodeKvElement(entry, p.nope, p.rope, d)
                : reinterpret_cast<const float*>(entry)[d];
    }
    out[d] = v;
  }
}

__device__ float BlockReduce(float v, bool take_max, float* shared) {
  for (int off = 16; off > 0; off /= 2) {
    const float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = take_max ? fmaxf(v, o) : v + o;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = shared[0];
  for (int w = 1; w < n_warps; ++w) r = take_max ? fmaxf(r, shared[w]) : r + shared[w];
  return r;
}

__global__ void SparseAttentionKernel(SparseAttentionParams p) {
  __shared__ float red[32];
  const int64_t h = blockIdx.x, b = blockIdx.y, D = p.head_dim;
  const int64_t n = p.n_sources[b];
  const float* q = p.q + (b * p.n_heads + h) * D;
  const float* g = p.gather + b * p.max_sources * D;
  float* logits = p.logits + (b * p.n_heads + h) * p.max_sources;
  const float z = p.sink[h];
  float m = z;
  for (int64_t s = threadIdx.x; s < n; s += blockDim.x) {
    float acc = 0.0f;
    for (int64_t d = 0; d < D; ++d) acc += q[d] * g[s * D + d];
    logits[s] = acc * p.scale;
    m = fmaxf(m, logits[s]);
  }
  m = BlockReduce(m, true, red);
  float sum = 0.0f;
  for (int64_t s = threadIdx.x; s < n; s += blockDim.x) {
    const float e = expf(logits[s] - m);
    logits[s] = e;
    sum += e;
  }
  sum = BlockReduce(sum, false, red);
  const float denom = sum + expf(z - m);
  __syncthreads();  // every weight is in `logits` before the weighted sums read them
  float* out = p.out + (b * p.n_heads + h) * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t s = 0; s < n; ++s) acc += logits[s] * g[s * D + d];
    out[d] = acc / denom;
  }
}

__global__ void HashRowsKernel(const int32_t* tid2eid, const int32_t* tokens, int64_t batch,
                               int64_t k, int32_t* rows) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < batch * k) rows[i] = tid2eid[static_cast<int64_t>(tokens[i / k]) * k + i % k];
}

__global__ void ExpertScalesKernel(const int32_t* experts, const float* weights, int64_t batch,
                                   int64_t k, int64_t n_experts, float* scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n_experts * batch) return;
  const int64_t e = i / batch, b = i % batch;
  float w = 0.0f;
  for (int64_t s = 0; s < k; ++s) {
    if (experts[b * k + s] == e) w = weights[b * k + s];
  }
  scale[i] = w;
}

constexpr int kGemvWarps = 8;

__global__ void RoutedGemvKernel(RoutedGemvParams p) {
  const int64_t pair = blockIdx.y;
  const int64_t o = blockIdx.x * static_cast<int64_t>(kGemvWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (o >= p.rows) return;  // whole warps leave together
  const int32_t e = p.experts[pair];
  if (e < 0) {  // an out-of-range hash id that Route turned into -1 (weight 0): contributes 0
    if (lane == 0) p.y[pair * p.rows + o] = 0.0f;
    return;
  }
  const kernels::WeightView w = p.views[static_cast<int64_t>(e) * 3 + p.which];
  const float* x = p.x + (pair / p.x_row_div) * p.cols;
  float acc = 0.0f;
  for (int64_t c = lane; c < p.cols; c += 32) acc += DequantWeight(w, o, c) * x[c];
  for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) p.y[pair * p.rows + o] = acc;
}

__global__ void CombineExpertsKernel(const float* pair_out, const int32_t* experts, int64_t k,
                                     int64_t dim, float* out) {
  const int64_t b = blockIdx.y;
  const int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (o >= dim) return;
  int32_t order[64];  // k <= 64 (checked by the launcher)
  ExpertSumOrder(experts + b * k, k, order);
  float acc = 0.0f;
  for (int64_t s = 0; s < k; ++s) acc += pair_out[(b * k + order[s]) * dim + o];
  out[b * dim + o] = acc;
}

__global__ void AdvanceRowsKernel(int64_t* positions, const int32_t* row_valid, int32_t* tokens,
                                  const int32_t* next_token, int64_t batch) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= batch || row_valid[b] == 0) return;
  positions[b] += 1;
  tokens[b] = next_token[b];
}

__device__ uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr int64_t kFillMaxDim = 1024;

__global__ void FillSyntheticKernel(uint8_t* dst, int64_t n, int64_t nope, int64_t rope,
                                    int64_t entry_bytes, bool fp8, bool index_key, uint64_t seed,
                                    float scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float v[kFillMaxDim];
  const int64_t dim = nope + rope;
  for (int64_t d = 0; d < dim; ++d) {
    const uint64_t r = SplitMix(seed ^ (static_cast<uint64_t>(i) * 0x100000001b3ull + d));
    // Sum of two uniforms in [-1, 1): a triangular, normal-ish value.
    const float u1 = static_cast<float>(r & 0xffffff) / 8388608.0f - 1.0f;
    const float u2 = static_cast<float>((r >> 24) & 0xffffff) / 8388608.0f - 1.0f;
    v[d] = (u1 + u2) * scale;
  }
  uint8_t* out = dst + i * entry_bytes;
  if (!fp8) {
    for (int64_t d = 0; d < dim; ++d) reinterpret_cast<float*>(out)[d] = v[d];
  } else if (index_key) {
    kernels::QuantizeIndexKeyEntry(v, dim, out);
  } else {
    kernels::QuantizeKvEntry(v, nope, rope, out);
  }
}

}  // namespace

cudaError_t LaunchEmbedRows(const kernels::WeightView& embed, const int32_t* tokens, int64_t batch,
                            int64_t n_hc, float* x, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(Blocks(embed.cols)), static_cast<unsigned>(batch));
  EmbedKernel<<<grid, kThreads, 0, stream>>>(embed, tokens, n_hc, x);
  return cudaGetLastError();
}

cudaError_t LaunchStoreRingEntry(const uint8_t* src, uint8_t* dst, const int64_t* positions,
                                 int64_t batch, int64_t ring, int64_t entry_bytes,
                                 cudaStream_t stream) {
  StoreRingEntryKernel<<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(src, dst, positions,
                                                                              ring, entry_bytes);
  return cudaGetLastError();
}

cudaError_t LaunchCompressorStep(const CompressorStepParams& p, cudaStream_t stream) {
  CompressorStepKernel<<<static_cast<unsigned>(p.batch), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchStoreCompressed(const StoreCompressedParams& p, cudaStream_t stream) {
  StoreCompressedKernel<<<static_cast<unsigned>(p.batch), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchScale(float* x, int64_t n, float s, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ScaleKernel<<<Blocks(n), kThreads, 0, stream>>>(x, n, s);
  return cudaGetLastError();
}

cudaError_t LaunchAddInPlace(float* y, const float* x, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  AddKernel<<<Blocks(n), kThreads, 0, stream>>>(y, x, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaskScores(const MaskScoresParams& p, cudaStream_t stream) {
  const int blocks = Blocks(p.n) < 1024 ? Blocks(p.n) : 1024;
  const dim3 grid(static_cast<unsigned>(blocks > 0 ? blocks : 1), static_cast<unsigned>(p.batch));
  MaskScoresKernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchBuildSources(const BuildSourcesParams& p, cudaStream_t stream) {
  BuildSourcesKernel<<<static_cast<unsigned>(p.batch), 32, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchGatherSources(const GatherSourcesParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.max_sources), static_cast<unsigned>(p.batch));
  GatherSourcesKernel<<<grid, 128, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSparseAttention(const SparseAttentionParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>(p.batch));
  SparseAttentionKernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchHashRows(const int32_t* tid2eid, const int32_t* tokens, int64_t batch, int64_t k,
                           int32_t* rows, cudaStream_t stream) {
  HashRowsKernel<<<Blocks(batch * k), kThreads, 0, stream>>>(tid2eid, tokens, batch, k, rows);
  return cudaGetLastError();
}

cudaError_t LaunchExpertScales(const int32_t* experts, const float* weights, int64_t batch,
                               int64_t k, int64_t n_experts, float* scale, cudaStream_t stream) {
  ExpertScalesKernel<<<Blocks(batch * n_experts), kThreads, 0, stream>>>(experts, weights, batch, k,
                                                                         n_experts, scale);
  return cudaGetLastError();
}

cudaError_t LaunchRoutedGemv(const RoutedGemvParams& p, cudaStream_t stream) {
  if (p.n_pairs == 0 || p.rows == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>((p.rows + kGemvWarps - 1) / kGemvWarps),
                  static_cast<unsigned>(p.n_pairs));
  RoutedGemvKernel<<<grid, kGemvWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchCombineExperts(const float* pair_out, const int32_t* experts, int64_t batch,
                                 int64_t k, int64_t dim, float* out, cudaStream_t stream) {
  if (k > 64) return cudaErrorInvalidValue;
  if (batch == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(Blocks(dim)), static_cast<unsigned>(batch));
  CombineExpertsKernel<<<grid, kThreads, 0, stream>>>(pair_out, experts, k, dim, out);
  return cudaGetLastError();
}

cudaError_t LaunchAdvanceRows(int64_t* positions, const int32_t* row_valid, int32_t* tokens,
                              const int32_t* next_token, int64_t batch, cudaStream_t stream) {
  AdvanceRowsKernel<<<Blocks(batch), kThreads, 0, stream>>>(positions, row_valid, tokens,
                                                            next_token, batch);
  return cudaGetLastError();
}

cudaError_t LaunchFillSynthetic(uint8_t* dst, int64_t n, int64_t nope, int64_t rope,
                                int64_t entry_bytes, bool fp8, bool index_key, uint64_t seed,
                                float scale, cudaStream_t stream) {
  if (nope + rope > kFillMaxDim) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  FillSyntheticKernel<<<static_cast<unsigned>((n + 63) / 64), 64, 0, stream>>>(
      dst, n, nope, rope, entry_bytes, fp8, index_key, seed, scale);
  return cudaGetLastError();
}

}  // namespace fm::rt::cuda
