#include "runtime/engine/engine_oracle.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace fm::rt {

RunAheadOracle::RunAheadOracle(std::unique_ptr<Sequence> seq, int32_t first_token,
                               int64_t decode_steps, std::vector<int64_t> csa_layers,
                               int64_t vocab_size)
    : seq_(std::move(seq)),
      next_token_(first_token),
      decode_steps_(decode_steps),
      csa_layers_(std::move(csa_layers)),
      logits_(static_cast<size_t>(vocab_size)) {
  seq_->SetIndexerTracing(true);
}

absl::Status RunAheadOracle::Advance(int64_t first, int64_t end) {
  while (!picks_.empty() && first_held() < first) picks_.pop_front();
  end = std::min(end, decode_steps_);
  for (int64_t step = static_cast<int64_t>(tokens_.size()); step < end; ++step) {
    FM_RETURN_IF_ERROR(seq_->Decode(next_token_, logits_.data()));
    std::vector<int32_t> picked;
    for (int64_t layer : csa_layers_) {
      FM_ASSIGN_OR_RETURN(const IndexerTrace* t, seq_->LastIndexerTrace(layer));
      picked.insert(picked.end(), t->selected.begin(), t->selected.end());
    }
    std::sort(picked.begin(), picked.end());
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    // Steps before the window are never asked for again (the engine's steps only move forward).
    if (step >= first) picks_.push_back(std::move(picked));
    next_token_ = static_cast<int32_t>(std::max_element(logits_.begin(), logits_.end()) -
                                       logits_.begin());
    tokens_.push_back(next_token_);
  }
  return absl::OkStatus();
}

absl::Status RunAheadOracle::Density(int64_t first, int64_t end, int32_t chunks_per_page,
                                     std::vector<uint8_t>* density) const {
  end = std::min(end, decode_steps_);
  const int64_t held_end = static_cast<int64_t>(tokens_.size());
  if (first < end && (first < first_held() || end > held_end)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "RunAheadOracle: picks of steps [", first, ", ", end, ") asked, steps [", first_held(),
        ", ", held_end, ") held"));
  }
  std::vector<int64_t> counts(density->size(), 0);
  for (int64_t step = first; step < end; ++step) {
    for (int32_t c : picks_[static_cast<size_t>(step - first_held())]) {
      const size_t page = static_cast<size_t>(c / chunks_per_page);
      if (page < counts.size()) ++counts[page];
    }
  }
  const int64_t max = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  for (size_t p = 0; p < counts.size(); ++p) {
    (*density)[p] =
        static_cast<uint8_t>(max <= 255 ? counts[p] : (counts[p] * 255 + max - 1) / max);
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
