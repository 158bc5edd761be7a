#pragma once
// The oracle of SelectionMode::kOracle (issue 5: "the true Level-2 picks of the next τ steps, from
// a full run"): a full-attention twin of one request, built from the same prompt or synthetic
// context and seed, that decodes its own greedy tokens ahead of the request and remembers, per
// decode step, the union over the CSA layers of its Level-2 picks. At a cycle boundary the engine
// asks for the picks of exactly the steps the new table will serve, so the oracle knows the
// future a scheduler can only predict. Memory stays bounded: only the steps from the request's
// current one up to the end of the next table's service window are kept.

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "runtime/model/model.h"

namespace fm::rt {

class RunAheadOracle {
 public:
  // `seq` holds the request's context and nothing decoded yet; `first_token` is the request's
  // first decode input. Picks are recorded for the request's `decode_steps` steps only (no table
  // serves a step beyond them). `csa_layers`: the decoder layers whose picks count.
  RunAheadOracle(std::unique_ptr<Sequence> seq, int32_t first_token, int64_t decode_steps,
                 std::vector<int64_t> csa_layers, int64_t vocab_size);

  // Forgets the picks of steps before `first` and decodes ahead until the picks of every step of
  // [first, end) are known. Steps count the request's own decodes: step s is its (s + 1)-th.
  absl::Status Advance(int64_t first, int64_t end);

  // The density of a table serving steps [first, end), for the density->size() pages the caller
  // sized: the number of that window's picks in each page (a chunk counts once per step, however
  // many CSA layers pick it; chunks beyond the pages, formed later, are left to the forced tail).
  // Counts above 255 are scaled by 255 / max, rounded up, so a picked page never reads 0 and the
  // densest pages stay the densest. FailedPrecondition when a step of the window was not advanced
  // to or was already forgotten.
  absl::Status Density(int64_t first, int64_t end, int32_t chunks_per_page,
                       std::vector<uint8_t>* density) const;

  // Steps whose picks are held now (bounded by the window Advance was last given).
  int64_t queued_steps() const { return static_cast<int64_t>(picks_.size()); }
  // The twin's greedy tokens so far (its own, which may differ from the request's).
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::unique_ptr<Sequence> seq_;
  int32_t next_token_;
  int64_t decode_steps_;
  std::vector<int64_t> csa_layers_;
  std::vector<float> logits_;
  std::vector<int32_t> tokens_;
  // Per step: the ascending union over the CSA layers of the picks. Holds the steps
  // [first_held(), tokens_.size()): the last ones decoded.
  std::deque<std::vector<int32_t>> picks_;
  int64_t first_held() const {
    return static_cast<int64_t>(tokens_.size()) - static_cast<int64_t>(picks_.size());
  }
};

}  // namespace fm::rt
