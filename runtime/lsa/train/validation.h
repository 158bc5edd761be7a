#pragma once
// Held-out evaluation of a memory indexer (spec §8 "Validation", plus the runtime's page policy):
// each validation token is scored against ALL chunks visible at it, with the runtime scorer
// (MemoryIndexer's shared forward), and compared with its tau-window positives:
//   - precision / recall / F1 at sigma >= 0.5, per target layer and for the mean ensemble;
//   - recall@k (k = 512): |top-k of the mean ensemble ∩ positives| / |positives|, pooled;
//   - the Level-1 page policy at the runtime's KMAX (sched::ComputePageDensity over the "or"
//     ensemble, forced recency tail, the KMAX densest pages: the one definition the engine uses):
//     the keep-ratio (kept visible chunks / visible chunks, averaged over tokens) and the recall of
//     the positives inside the kept pages, pooled.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/lsa/train/feature_store.h"
#include "runtime/lsa/train/train_corpus.h"
#include "scheduler/geometry.h"
#include "scheduler/selection_policy.h"

namespace fm::rt::train {

struct ValidationOptions {
  int64_t tau = 64;
  int64_t recall_k = 512;
  sched::PolicyParams policy;      // threshold, KMAX (0 = the documented rule), tail, sink
  sched::GeometryConfig geometry;  // chunks_per_page
  int32_t kmax_max_pages = 1 << 20;
};

struct ClassMetrics {
  int64_t tp = 0, fp = 0, fn = 0;
  double precision = 0, recall = 0, f1 = 0;
  void Finish();
};

struct ValidationMetrics {
  int64_t n_tokens = 0;     // tokens scored (with at least one visible positive)
  int64_t n_positives = 0;  // pooled positives
  std::vector<ClassMetrics> layers;  // per target, sigma >= 0.5
  ClassMetrics ensemble;             // mean of the targets' sigma >= 0.5
  double recall_at_k = 0;            // mean ensemble, pooled
  double keep_ratio = 0;             // page policy: kept visible chunks / visible chunks
  double recall_at_keep = 0;         // positives inside the kept pages / positives, pooled
  int32_t kmax_pages = 0;            // KMAX applied at the longest context scored

  nlohmann::json ToJson() const;
};

// Every `stride`-th token of the held-out range of every document, skipping tokens without a
// visible chunk.
std::vector<TokenRef> ValidationTokens(const TrainCorpus& corpus,
                                       const std::vector<int64_t>& first_val_token, int64_t stride);

// `store` serves the hidden states and keys of `corpus` (one document's keys held at a time).
absl::StatusOr<ValidationMetrics> Validate(MemoryIndexer& indexer, const TrainCorpus& corpus,
                                           FeatureStore* store,
                                           const std::vector<TokenRef>& tokens,
                                           const ValidationOptions& options);

}  // namespace fm::rt::train
