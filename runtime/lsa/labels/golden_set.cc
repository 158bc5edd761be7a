#include "runtime/lsa/labels/golden_set.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace fm::rt::labels {

absl::Status ValidateLabelConstants(const LabelConstants& c) {
  if (c.topk < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("label constants: topk = ", c.topk, ", expected >= 1"));
  if (!(c.top_p > 0.0f && c.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("label constants: top_p = ", c.top_p, ", expected in (0, 1]"));
  }
  if (c.min_layers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("label constants: min_layers = ", c.min_layers, ", expected >= 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> NucleusChunks(absl::Span<const float> logits, int32_t topk,
                                                   float top_p) {
  FM_RETURN_IF_ERROR(ValidateLabelConstants({topk, top_p, 1}));
  if (logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("NucleusChunks: ", logits.size(), " logits, more than int32 chunk ids"));
  }
  std::vector<int32_t> order;
  order.reserve(logits.size());
  for (size_t j = 0; j < logits.size(); ++j) {
    const float v = logits[j];
    if (std::isnan(v))
      return absl::InvalidArgumentError(
          absl::StrCat("NucleusChunks: logit of chunk ", j, " is NaN"));
    if (v == -std::numeric_limits<float>::infinity()) continue;  // not pickable by Level 2
    order.push_back(static_cast<int32_t>(j));
  }
  const size_t k = std::min(order.size(), static_cast<size_t>(topk));
  auto before = [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    before);
  order.resize(k);
  if (k == 0) return order;
  // Softmax over the k values only, in double so the cumulative sum is order-stable; the max is
  // the first entry (a +inf logit takes all the mass).
  const double top = logits[static_cast<size_t>(order[0])];
  std::vector<double> e(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) {
    const double v = logits[static_cast<size_t>(order[i])];
    e[i] = std::isinf(top) ? (v == top ? 1.0 : 0.0) : std::exp(v - top);
    sum += e[i];
  }
  // The entries with cumsum <= p form a prefix; the first entry past p ends the nucleus, and the
  // top-1 is always in it.
  double cum = 0;
  size_t n = 0;
  while (n < k) {
    cum += e[n] / sum;
    ++n;
    if (cum > static_cast<double>(top_p)) break;
  }
  order.resize(n);
  return order;
}

void GoldenVoter::Reset(int64_t n_blk) {
  for (int32_t c : touched_) votes_[static_cast<size_t>(c)] = 0;
  touched_.clear();
  n_blk_ = n_blk;
  layers_ = 0;
  if (static_cast<int64_t>(votes_.size()) < n_blk) votes_.resize(static_cast<size_t>(n_blk), 0);
}

absl::Status GoldenVoter::AddLayer(absl::Span<const float> logits) {
  if (static_cast<int64_t>(logits.size()) != n_blk_) {
    return absl::InvalidArgumentError(absl::StrCat("GoldenVoter: a logits row of ", logits.size(),
                                                   " chunks, expected n_blk = ", n_blk_));
  }
  FM_ASSIGN_OR_RETURN(std::vector<int32_t> nucleus,
                      NucleusChunks(logits, constants_.topk, constants_.top_p));
  for (int32_t c : nucleus) {
    if (votes_[static_cast<size_t>(c)]++ == 0) touched_.push_back(c);
  }
  ++layers_;
  return absl::OkStatus();
}

std::vector<GoldenChunk> GoldenVoter::Golden() const {
  std::vector<GoldenChunk> out;
  for (int32_t c : touched_) {
    const int32_t v = votes_[static_cast<size_t>(c)];
    if (v >= constants_.min_layers) out.push_back({c, v});
  }
  std::sort(out.begin(), out.end(), [](const GoldenChunk& a, const GoldenChunk& b) {
    return a.votes > b.votes || (a.votes == b.votes && a.chunk < b.chunk);
  });
  return out;
}

absl::StatusOr<std::vector<GoldenChunk>> GoldenSet(
    absl::Span<const absl::Span<const float>> layer_logits, const LabelConstants& constants) {
  FM_RETURN_IF_ERROR(ValidateLabelConstants(constants));
  GoldenVoter voter(constants);
  voter.Reset(layer_logits.empty() ? 0 : static_cast<int64_t>(layer_logits[0].size()));
  for (size_t l = 0; l < layer_logits.size(); ++l) {
    absl::Status s = voter.AddLayer(layer_logits[l]);
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat("GoldenSet: layer ", l, ": ", s.message()));
  }
  return voter.Golden();
}

}  // namespace fm::rt::labels
