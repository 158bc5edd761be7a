// Multi-block TopK by radix select over the 64-bit keys of device_codecs.h (score bits made
// monotone, then the inverted index, so larger key = better and every key is unique):
//   init -> 8 x (histogram of the next 8-bit digit over all keys that match the digits chosen so
//   far, on the whole grid; one block picks the digit holding the k-th largest key) -> every key >=
//   the k-th largest is a candidate (exactly k of them) -> one block ranks the k candidates.
// 18 launches, each reading the scores once at most, instead of one multiprocessor streaming them
// nine times (the single-block kernel in ops_select.cu, still used for short arrays).

#include "kernels/cuda/device_codecs.h"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops/sm_count.h"
#include "kernels/cuda/ops/topk_radix.cuh"
#include "kernels/cuda/ops/topk_radix_step.h"

namespace fm::kernels::cuda {
namespace {

static_assert(kTopKRadixThreads == 256, "one thread per histogram bin");
constexpr int kRankThreads = 1024;

__global__ void __launch_bounds__(kTopKRadixThreads)
    topk_radix_init_kernel(TopKRadixState* st, uint32_t k) {
  st->hist[threadIdx.x] = 0;
  if (threadIdx.x == 0) {
    st->prefix = 0;
    st->mask = 0;
    st->remaining = k;
    st->n_found = 0;
  }
}

__global__ void __launch_bounds__(kTopKRadixThreads)
    topk_radix_histogram_kernel(const float* scores, int64_t n, TopKRadixState* st, int shift) {
  __shared__ uint32_t hist[256];
  hist[threadIdx.x] = 0;
  const uint64_t prefix = st->prefix, mask = st->mask;
  __syncthreads();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kTopKRadixThreads;
  // i0 is uniform over the block, so every warp runs every iteration with all lanes (ballot below).
  for (int64_t i0 = static_cast<int64_t>(blockIdx.x) * kTopKRadixThreads; i0 < n; i0 += stride) {
    const int64_t i = i0 + threadIdx.x;
    bool take = false;
    uint32_t digit = 0;
    if (i < n) {
      const uint64_t key = TopKKey(scores[i], static_cast<int32_t>(i));
      take = (key & mask) == prefix;
      digit = static_cast<uint32_t>(key >> shift) & 255u;
    }
    // One shared atomic per distinct digit per warp: in the first passes most scores share their
    // top digits (sign and exponent), and same-address atomics would serialise the warp.
    const uint32_t takers = __ballot_sync(0xffffffffu, take);
    if (take) {
      const uint32_t peers = __match_any_sync(takers, digit);
      if ((threadIdx.x & 31u) == static_cast<unsigned>(__ffs(peers) - 1)) {
        atomicAdd(&hist[digit], static_cast<uint32_t>(__popc(peers)));
      }
    }
  }
  __syncthreads();
  if (hist[threadIdx.x] != 0) atomicAdd(&st->hist[threadIdx.x], hist[threadIdx.x]);
}

// Picks the digit that holds the remaining-th largest matching key and clears the histogram for
// the next pass.
__global__ void __launch_bounds__(kTopKRadixThreads)
    topk_radix_select_kernel(TopKRadixState* st, int shift) {
  __shared__ uint32_t hist[256];
  hist[threadIdx.x] = st->hist[threadIdx.x];
  st->hist[threadIdx.x] = 0;
  __syncthreads();
  if (threadIdx.x != 0) return;
  uint64_t prefix = st->prefix, mask = st->mask;
  st->remaining = RadixSelectDigit(hist, st->remaining, shift, &prefix, &mask);
  st->prefix = prefix;
  st->mask = mask;
}

// After the 8 passes `prefix` is the k-th largest key itself: exactly k keys are >= it.
__global__ void __launch_bounds__(kTopKRadixThreads)
    topk_radix_collect_kernel(const float* scores, int64_t n, int64_t k, TopKRadixState* st,
                              uint64_t* candidates) {
  const uint64_t threshold = st->prefix;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kTopKRadixThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kTopKRadixThreads + threadIdx.x; i < n;
       i += stride) {
    const uint64_t key = TopKKey(scores[i], static_cast<int32_t>(i));
    if (key >= threshold) {
      const uint32_t slot = atomicAdd(&st->n_found, 1u);
      if (slot < k) candidates[slot] = key;
    }
  }
}

// Keys are unique, so a candidate's rank is the number of larger candidates: k^2 comparisons from
// shared memory (every thread reads the same key at the same time: a broadcast).
__global__ void __launch_bounds__(kRankThreads)
    topk_radix_rank_kernel(const uint64_t* candidates, int64_t k, int32_t* out) {
  __shared__ uint64_t keys[kTopKRadixMaxK];
  for (int64_t i = threadIdx.x; i < k; i += kRankThreads) keys[i] = candidates[i];
  __syncthreads();
  for (int64_t i = threadIdx.x; i < k; i += kRankThreads) {
    const uint64_t mine = keys[i];
    int64_t rank = 0;
    for (int64_t j = 0; j < k; ++j) rank += keys[j] > mine ? 1 : 0;
    out[rank] = TopKKeyIndex(mine);
  }
}

}  // namespace

cudaError_t LaunchTopKRadix(const TopKParams& p, const TopKPlan& plan, void* workspace,
                            size_t workspace_bytes, cudaStream_t stream) {
  if (!plan.radix || plan.hist_blocks <= 0 || plan.hist_blocks > 0x7fffffff || p.k <= 0 ||
      p.k > kTopKRadixMaxK || p.k > p.n || workspace == nullptr ||
      reinterpret_cast<uintptr_t>(workspace) % 8 != 0 ||
      workspace_bytes < TopKRadixWorkspaceBytes(p.k)) {
    return cudaErrorInvalidValue;
  }
  auto* st = static_cast<TopKRadixState*>(workspace);
  auto* candidates =
      reinterpret_cast<uint64_t*>(static_cast<uint8_t*>(workspace) + kTopKRadixStateBytes);
  const unsigned blocks = static_cast<unsigned>(plan.hist_blocks);
  topk_radix_init_kernel<<<1, kTopKRadixThreads, 0, stream>>>(st, static_cast<uint32_t>(p.k));
  for (int shift = 56; shift >= 0; shift -= 8) {
    topk_radix_histogram_kernel<<<blocks, kTopKRadixThreads, 0, stream>>>(p.scores, p.n, st, shift);
    topk_radix_select_kernel<<<1, kTopKRadixThreads, 0, stream>>>(st, shift);
  }
  topk_radix_collect_kernel<<<blocks, kTopKRadixThreads, 0, stream>>>(p.scores, p.n, p.k, st,
                                                                      candidates);
  topk_radix_rank_kernel<<<1, kRankThreads, 0, stream>>>(candidates, p.k, p.out);
  return cudaGetLastError();  // the first failed launch's error, if any, is still pending here
}

cudaError_t LaunchTopKPlanned(const TopKParams& p, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  int sm_count = 0;
  if (cudaError_t e = CurrentDeviceSmCount(&sm_count); e != cudaSuccess) return e;
  const TopKPlan plan = PlanTopK(p.n, p.k, workspace != nullptr ? workspace_bytes : 0, sm_count);
  if (plan.radix) return LaunchTopKRadix(p, plan, workspace, workspace_bytes, stream);
  return LaunchTopK(p, stream);
}

}  // namespace fm::kernels::cuda
