#pragma once
// The golden set of one decode token (V4_FLASH_LSA.md §7): on every CSA layer, the native
// indexer's top-k logits (k = min(topk, n_blk)), a softmax over those k only, and the nucleus at
// mass p (every entry whose cumulative probability is <= p, plus the top-1, plus the first entry
// that crosses p) each give one vote to their chunks; the golden chunks are those with at least
// θ = min_layers votes, scored by their vote count and sorted by votes descending (then chunk
// ascending, so the order is deterministic).

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/lsa/labels/label_file.h"

namespace fm::rt::labels {

// InvalidArgument naming the constant unless topk >= 1, 0 < top_p <= 1 and min_layers >= 1.
absl::Status ValidateLabelConstants(const LabelConstants& c);

// The nucleus of one layer's logits row (one logit per chunk j < n_blk) as chunk indices in
// descending-logit order. Ties are broken by the lower chunk index. -inf entries (chunks Level 2
// cannot pick) never enter the top-k; a NaN is InvalidArgument naming its index.
absl::StatusOr<std::vector<int32_t>> NucleusChunks(absl::Span<const float> logits, int32_t topk,
                                                   float top_p);

// Accumulates the votes of one token over its CSA layers. Reused across tokens (Reset).
class GoldenVoter {
 public:
  explicit GoldenVoter(const LabelConstants& constants) : constants_(constants) {}

  // Starts a token whose layers score n_blk chunks.
  void Reset(int64_t n_blk);
  // One layer's logits row; its size must be the n_blk of Reset.
  absl::Status AddLayer(absl::Span<const float> logits);
  // Chunks with votes >= min_layers, votes descending then chunk ascending.
  std::vector<GoldenChunk> Golden() const;
  int64_t layers_added() const { return layers_; }

 private:
  LabelConstants constants_;
  int64_t n_blk_ = 0, layers_ = 0;
  std::vector<int32_t> votes_;    // [n_blk]
  std::vector<int32_t> touched_;  // chunks with votes > 0 (so Golden is O(nucleus), not O(n_blk))
};

// One-shot form: the golden set of the given layers' logits rows (all of the same length).
absl::StatusOr<std::vector<GoldenChunk>> GoldenSet(
    absl::Span<const absl::Span<const float>> layer_logits, const LabelConstants& constants);

}  // namespace fm::rt::labels
