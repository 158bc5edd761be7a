// Scoring, selection and attention (kernels/backend.h semantics): Lightning-indexer scores, top-k,
// attention with a sink, MoE routing. Dot products run in a different order than the CPU's AVX2
// reference, so IndexerScore and SinkAttention agree to a tolerance; TopK and Route reproduce the
// CPU's choice and order exactly (same keys, same tie-break, sums in the CPU's order).

#include <cmath>

#include "kernels/cuda/device_codecs.h"
#include "kernels/cuda/ops.cuh"

namespace fm::kernels::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

__device__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// x . r over `dim` dims, summed across the warp: each lane holds dims lane, lane + 32, ... of r in
// registers (r[m] is dim m * 32 + lane) and reads the same dims of x. Inlined so r stays in
// registers.
template <int kSlots>
__device__ __forceinline__ float WarpDot(const float* x, const float (&r)[kSlots], int64_t dim,
                                         int lane) {
  float part = 0.0f;
#pragma unroll
  for (int m = 0; m < kSlots; ++m) {
    const int64_t d = m * 32 + lane;
    if (d < dim) part = fmaf(x[d], r[m], part);
  }
  return WarpSum(part);
}

// ---- IndexerScore: one warp per key; the key lives in registers, 32 dims per lane-slot. ----
constexpr int kMaxDimSlots = static_cast<int>(kCudaIndexerMaxDim / 32);

__global__ void __launch_bounds__(kThreads) indexer_score_kernel(IndexerScoreParams p) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (j >= p.n_keys) return;
  float k[kMaxDimSlots];
  float key_scale = 1.0f;
  if (p.keys_f32 != nullptr) {
    const float* key = p.keys_f32 + j * p.key_stride;
#pragma unroll
    for (int m = 0; m < kMaxDimSlots; ++m) {
      const int64_t d = m * 32 + lane;
      k[m] = d < p.dim ? key[d] : 0.0f;
    }
  } else {
    const uint8_t* key = p.keys_fp8 + j * p.key_stride;
#pragma unroll
    for (int m = 0; m < kMaxDimSlots; ++m) {
      const int64_t d = m * 32 + lane;
      k[m] = d < p.dim ? E4m3ToFloat(key[d]) : 0.0f;
    }
    const uint8_t* s = p.key_scales + j * p.scale_stride;  // possibly unaligned
    const uint32_t bits = static_cast<uint32_t>(s[0]) | (static_cast<uint32_t>(s[1]) << 8) |
                          (static_cast<uint32_t>(s[2]) << 16) | (static_cast<uint32_t>(s[3]) << 24);
    key_scale = BitsToFloat(bits);
  }
  float score = 0.0f;
  for (int64_t h = 0; h < p.n_heads; ++h) {
    // A positive scale commutes with the ReLU.
    const float dot = WarpDot(p.q + h * p.dim, k, p.dim, lane) * key_scale;
    if (dot > 0.0f) score += p.weights[h] * dot;
  }
  if (lane == 0) p.out[j] = score;
}

// ---- TopK: one block; radix select of the k-th largest 64-bit key, then a bitonic sort. ----
constexpr int kTopKThreads = 1024;

__global__ void __launch_bounds__(kTopKThreads) topk_kernel(TopKParams p) {
  __shared__ unsigned int hist[256];
  __shared__ uint64_t prefix, mask;
  __shared__ int64_t remaining;
  __shared__ unsigned int n_found;
  __shared__ uint64_t cand[kCudaTopKMaxK];
  if (threadIdx.x == 0) {
    prefix = 0;
    mask = 0;
    remaining = p.k;
    n_found = 0;
  }
  // Eight passes of 8 bits, most significant first: after them `prefix` is the k-th largest key
  // (keys are unique because they contain the index).
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kTopKThreads) hist[b] = 0;
    __syncthreads();
    const uint64_t pre = prefix, msk = mask;
    for (int64_t i = threadIdx.x; i < p.n; i += kTopKThreads) {
      const uint64_t key = TopKKey(p.scores[i], static_cast<int32_t>(i));
      if ((key & msk) == pre) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t above = 0;
      int digit = 255;
      for (; digit > 0 && above + hist[digit] < remaining; --digit) above += hist[digit];
      remaining -= above;
      prefix |= static_cast<uint64_t>(digit) << shift;
      mask |= uint64_t{255} << shift;
    }
    __syncthreads();
  }
  const uint64_t threshold = prefix;
  for (int64_t i = threadIdx.x; i < p.n; i += kTopKThreads) {
    const uint64_t key = TopKKey(p.scores[i], static_cast<int32_t>(i));
    if (key >= threshold) cand[atomicAdd(&n_found, 1u)] = key;
  }
  __syncthreads();
  int size = 1;
  while (size < p.k) size *= 2;
  for (int i = static_cast<int>(p.k) + threadIdx.x; i < size; i += kTopKThreads) cand[i] = 0;
  __syncthreads();
  // Bitonic sort, descending.
  for (int len = 2; len <= size; len *= 2) {
    for (int stride = len / 2; stride > 0; stride /= 2) {
      for (int i = threadIdx.x; i < size; i += kTopKThreads) {
        const int partner = i ^ stride;
        if (partner > i) {
          const bool descending = (i & len) == 0;
          const uint64_t a = cand[i], b = cand[partner];
          if ((a < b) == descending) {
            cand[i] = b;
            cand[partner] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int64_t i = threadIdx.x; i < p.k; i += kTopKThreads) p.out[i] = TopKKeyIndex(cand[i]);
}

// ---- SinkAttention: one block per head, two passes over the entries (max, then weighted sum),
// so no per-head scratch is needed; the warps' partial outputs are summed in shared memory. ----
constexpr int kMaxHeadSlots = static_cast<int>(kCudaAttentionMaxHeadDim / 32);

__global__ void __launch_bounds__(kThreads) sink_attention_kernel(SinkAttentionParams p) {
  extern __shared__ float partial[];  // [kWarps][head_dim]
  __shared__ float warp_val[kWarps];
  const int64_t h = p.head_begin + blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const float* q = p.q + h * p.head_dim;
  float qr[kMaxHeadSlots];
#pragma unroll
  for (int m = 0; m < kMaxHeadSlots; ++m) {
    const int64_t d = m * 32 + lane;
    qr[m] = d < p.head_dim ? q[d] : 0.0f;
  }
  auto logit = [&](int64_t s) {
    return WarpDot(p.kv + s * p.head_dim, qr, p.head_dim, lane) * p.scale;
  };
  float mx = -INFINITY;
  for (int64_t s = warp; s < p.n_kv; s += kWarps) mx = fmaxf(mx, logit(s));
  if (lane == 0) warp_val[warp] = mx;
  __syncthreads();
  mx = warp_val[0];
  for (int w = 1; w < kWarps; ++w) mx = fmaxf(mx, warp_val[w]);
  __syncthreads();
  float acc[kMaxHeadSlots];
#pragma unroll
  for (int m = 0; m < kMaxHeadSlots; ++m) acc[m] = 0.0f;
  float denom = 0.0f;
  for (int64_t s = warp; s < p.n_kv; s += kWarps) {
    const float e = static_cast<float>(exp(static_cast<double>(logit(s) - mx)));
    denom += e;
    const float* kv = p.kv + s * p.head_dim;
#pragma unroll
    for (int m = 0; m < kMaxHeadSlots; ++m) {
      const int64_t d = m * 32 + lane;
      if (d < p.head_dim) acc[m] = fmaf(e, kv[d], acc[m]);
    }
  }
#pragma unroll
  for (int m = 0; m < kMaxHeadSlots; ++m) {
    const int64_t d = m * 32 + lane;
    if (d < p.head_dim) partial[warp * p.head_dim + d] = acc[m];
  }
  if (lane == 0) warp_val[warp] = denom;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kWarps; ++w) total += warp_val[w];
  // The sink is one more logit with a zero value vector: it only enlarges the denominator.
  total += static_cast<float>(exp(static_cast<double>(p.sink[h] - mx)));
  const float inv = 1.0f / total;
  for (int64_t d = threadIdx.x; d < p.head_dim; d += kThreads) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w) o += partial[w * p.head_dim + d];
    p.out[h * p.head_dim + d] = o * inv;
  }
}

// ---- Route: one block per token. Scores element-wise; sums by one thread in the CPU's order;
// the k best biased scores by k block-wide arg-max rounds (ties to the lower expert). ----
__device__ float RouteScore(float x, int32_t func) {
  const double d = x;
  if (func == kScoreSigmoid) return 1.0f / (1.0f + static_cast<float>(exp(-d)));
  // sqrt(softplus), softplus = log1p(exp(x)) with torch's threshold 20.
  const float sp =
      x > 20.0f ? x : static_cast<float>(log1p(static_cast<double>(static_cast<float>(exp(d)))));
  return sqrtf(sp);
}

__global__ void __launch_bounds__(kThreads) route_kernel(RouteParams p) {
  __shared__ float scores[kCudaRouteMaxExperts];
  __shared__ float biased[kCudaRouteMaxExperts];
  __shared__ bool taken[kCudaRouteMaxExperts];
  __shared__ float best_val[kWarps];
  __shared__ int best_idx[kWarps];
  __shared__ float red;
  const int64_t r = blockIdx.x;
  const float* lg = p.logits + r * p.n_experts;
  const int n = static_cast<int>(p.n_experts);
  if (p.score_func == kScoreSoftmax) {
    if (threadIdx.x == 0) {
      float mx = lg[0];
      for (int e = 1; e < n; ++e) mx = fmaxf(mx, lg[e]);
      red = mx;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < n; e += kThreads) {
      scores[e] = static_cast<float>(exp(static_cast<double>(__fsub_rn(lg[e], red))));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float sum = 0.0f;
      for (int e = 0; e < n; ++e) sum = __fadd_rn(sum, scores[e]);
      red = sum;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < n; e += kThreads) scores[e] = __fdiv_rn(scores[e], red);
  } else {
    for (int e = threadIdx.x; e < n; e += kThreads) scores[e] = RouteScore(lg[e], p.score_func);
  }
  for (int e = threadIdx.x; e < n; e += kThreads) {
    biased[e] = __fadd_rn(scores[e], p.bias != nullptr ? p.bias[e] : 0.0f);
    taken[e] = false;
  }
  __syncthreads();
  int32_t* chosen = p.experts + r * p.k;
  if (p.hash_experts != nullptr) {
    for (int64_t i = threadIdx.x; i < p.k; i += kThreads) chosen[i] = p.hash_experts[r * p.k + i];
  } else {
    for (int64_t i = 0; i < p.k; ++i) {
      float bv = -INFINITY;
      int bi = n;
      for (int e = threadIdx.x; e < n; e += kThreads) {
        if (taken[e]) continue;
        const float v = biased[e];
        if (bi == n || v > bv) {  // e rises: on equal values the earlier (lower) index stays
          bv = v;
          bi = e;
        }
      }
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi != n && (bi == n || ov > bv || (ov == bv && oi < bi))) {
          bv = ov;
          bi = oi;
        }
      }
      if ((threadIdx.x & 31) == 0) {
        best_val[threadIdx.x / 32] = bv;
        best_idx[threadIdx.x / 32] = bi;
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        float v = best_val[0];
        int b = best_idx[0];
        for (int w = 1; w < kWarps; ++w) {
          if (best_idx[w] != n &&
              (b == n || best_val[w] > v || (best_val[w] == v && best_idx[w] < b))) {
            v = best_val[w];
            b = best_idx[w];
          }
        }
        chosen[i] = b;
        taken[b] = true;
      }
      __syncthreads();
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float* w = p.weights + r * p.k;
    float sum = 0.0f;
    for (int64_t i = 0; i < p.k; ++i) {
      const int32_t e = chosen[i];
      // Out-of-range hash ids (caught by the CPU op as kBadParams) cannot be reported from here
      // without a host sync: they route to no expert with weight 0.
      w[i] = (e >= 0 && e < n) ? scores[e] : 0.0f;
      if (e < 0 || e >= n) chosen[i] = -1;
      sum = __fadd_rn(sum, w[i]);
    }
    for (int64_t i = 0; i < p.k; ++i) {
      if (p.renormalise) w[i] = __fdiv_rn(w[i], sum);
      w[i] = __fmul_rn(w[i], p.route_scale);
    }
  }
}

}  // namespace

cudaError_t LaunchIndexerScore(const IndexerScoreParams& p, cudaStream_t stream) {
  if (p.n_keys == 0) return cudaSuccess;
  indexer_score_kernel<<<static_cast<unsigned>((p.n_keys + kWarps - 1) / kWarps), kThreads, 0,
                         stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchTopK(const TopKParams& p, cudaStream_t stream) {
  if (p.k == 0) return cudaSuccess;
  topk_kernel<<<1, kTopKThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSinkAttention(const SinkAttentionParams& p, cudaStream_t stream) {
  if (p.head_end == p.head_begin) return cudaSuccess;
  const size_t shared = static_cast<size_t>(kWarps * p.head_dim) * sizeof(float);
  sink_attention_kernel<<<static_cast<unsigned>(p.head_end - p.head_begin), kThreads, shared,
                          stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchRoute(const RouteParams& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  route_kernel<<<static_cast<unsigned>(p.n_rows), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fm::kernels::cuda
