#pragma once
// Level 1 of LSA on the CPU backend (V4_FLASH_LSA.md §5.2, DESIGN.md §5): at a cycle boundary,
// score every stored c4 chunk of the sequence with the memory indexer on each target layer, hand
// the per-layer probabilities to the scheduler's selection policy (sched::ComputePageDensity +
// sched::SelectPages, the one definition of the policy), expand the chosen pages to chunks and
// restrict the sequence's Level 2 to them (Sequence::SetResidentChunks). The cadence (which steps
// are boundaries) belongs to the caller.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/model/model.h"
#include "scheduler/geometry.h"
#include "scheduler/selection_policy.h"

namespace fm::rt {

struct Level1Options {
  sched::PolicyParams policy;      // threshold, KMAX (0 = the documented rule), tail, sink
  sched::GeometryConfig geometry;  // tokens_per_chunk must be 4 (the CSA ratio); chunks_per_page
  int32_t kmax_max_pages = 1 << 20;  // cap on KMAX (the hot-pool table width)
  // DESIGN.md §2.2: every table also holds the page that receives the next chunks and the page
  // after it, so chunks formed during the cycle stay reachable through CSA. false gives the
  // reference's score-resident semantics (spec §5.3): only chunks that existed at the boundary.
  bool include_spare_page = true;
};

// What one cycle decided (reused across cycles).
struct Level1Result {
  int64_t n_chunks = 0;                  // chunks scored (stored c4 entries at the boundary)
  std::vector<std::vector<float>> probs;  // [target][n_chunks] sigmoid scores
  std::vector<uint8_t> density;           // per page
  sched::Selection selection;             // pages chosen by the policy
  int64_t resident_chunks = 0;            // chunks marked resident
};

class Level1 {
 public:
  // `indexer` must outlive this object. InvalidArgument for bad options (policy, geometry).
  static absl::StatusOr<Level1> Create(MemoryIndexer* indexer, const Level1Options& options);

  // Enables the h snapshot on the indexer's target layers of `seq` (before its prefill, so the
  // first boundary has it).
  absl::Status Attach(Sequence& seq) const;

  // One boundary: scores the chunks stored so far for the last processed token, selects pages and
  // calls seq.SetResidentChunks. FailedPrecondition when Attach was not called or the sequence is
  // empty; InvalidArgument when a target is not a CSA layer of the sequence's model or the layers
  // disagree on the chunk count.
  absl::Status RunCycle(Sequence& seq, Level1Result* out);

  const Level1Options& options() const { return options_; }

 private:
  Level1(MemoryIndexer* indexer, const Level1Options& options)
      : indexer_(indexer), options_(options) {}

  MemoryIndexer* indexer_;
  Level1Options options_;
  std::vector<float> keys_;  // scratch: dequantised keys of one layer
};

}  // namespace fm::rt
