#pragma once
// Launch plan and device workspace of the multi-block TopK (topk_radix.cu): a radix select of the
// k-th largest (score, index) key spread over the whole GPU, for score arrays too long for the
// single-block TopK of ops_select.cu (one multiprocessor streaming 1M scores 9 times). Plain C++
// with no CUDA headers, so the choice and the workspace layout are unit tested without a GPU
// (tests/backend_ops/cuda_launch_plan_test.cc).

#include <cstddef>
#include <cstdint>

namespace fm::kernels::cuda {

// Device-resident state of one radix select, at the start of the workspace. Written and read only
// by the topk_radix.cu kernels, in stream order.
struct TopKRadixState {
  uint32_t hist[256];  // keys matching `prefix` under `mask`, by their next 8-bit digit
  uint64_t prefix;     // the k-th largest key's bits decided so far
  uint64_t mask;       // which bits of `prefix` are decided
  uint32_t remaining;  // rank of the k-th largest key among the keys that match `prefix`
  uint32_t n_found;    // candidates collected so far
};

// The candidates ([k] uint64 keys) start here, after the state.
inline constexpr size_t kTopKRadixStateBytes = 2048;
static_assert(sizeof(TopKRadixState) <= kTopKRadixStateBytes, "state fits its reserved bytes");

// Largest k of the radix path: the final ordering holds the k candidates in one block's shared
// memory (k * 8 bytes) and ranks them with k^2 comparisons.
inline constexpr int64_t kTopKRadixMaxK = 2048;
// Below this many scores the single-block TopK is faster: one launch instead of 18, and the scores
// stay in one multiprocessor's L1. A first guess to be replaced by the crossover measured on the
// GPU.
inline constexpr int64_t kTopKRadixMinN = int64_t{1} << 17;
inline constexpr int kTopKRadixThreads = 256;
// Scores each histogram thread reads per pass before the grid runs out of blocks.
inline constexpr int64_t kTopKRadixItemsPerThread = 16;

// Device bytes the radix path needs for a given k (state + k candidate keys).
constexpr size_t TopKRadixWorkspaceBytes(int64_t k) {
  return kTopKRadixStateBytes + static_cast<size_t>(k > 0 ? k : 0) * sizeof(uint64_t);
}

struct TopKPlan {
  bool radix = false;       // false: the single-block TopK (LaunchTopK, ops.cuh)
  int64_t hist_blocks = 0;  // radix: blocks of the histogram and collect kernels
};

// Radix when n is long enough, k fits, and the caller's workspace holds TopKRadixWorkspaceBytes(k).
// The grid gives each thread about kTopKRadixItemsPerThread scores, at most 4 blocks per
// multiprocessor (more only adds atomics on the global histogram).
TopKPlan PlanTopK(int64_t n, int64_t k, size_t workspace_bytes, int sm_count);

}  // namespace fm::kernels::cuda
