#pragma once
// `flashmem bench pcie`: host<->device copy rates of the CUDA copy engine's three paths (one
// cudaMemcpyBatchAsync per batch, one cudaMemcpyAsync per range, the SM-copy kernel) on contiguous
// copies of 4 KiB-64 MiB and on scattered slot-sized page sets coalesced as the planner coalesces
// them, each as a ratio to the bulk copy-engine rate measured in the same run (issue 8 goal:
// scattered pages >= 0.70 of bulk). Built into every `flashmem`; without CUDA it only says why it
// cannot run.

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/copy_engine.h"

namespace fm::bench {

// Empty when the pcie suite can run here; otherwise why not ("flashmem was built without CUDA",
// "no CUDA device (...)"), so the CLI can report a skip and exit 0.
std::string PcieSkipReason();

// The copy ranges of one prefetch of `k` pages into a hot pool, as a τ-cycle plan makes them: the
// request's recent tail (a contiguous run of k/8 cold pages) plus pages drawn at random from the
// older history, each given a free slot from a shuffled free list (the LRU order of a pool in
// steady state), sorted by cold page and coalesced (sched::CoalescePageMoves). Requires
// k <= n_hot <= n_cold. Deterministic for a seed.
std::vector<sched::CopyRange> ScatteredPagePlan(int64_t n_cold, int64_t n_hot, int64_t k,
                                                int64_t slot_bytes, uint64_t seed);

}  // namespace fm::bench
