#include "runtime/lsa/level1.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace fm::rt {

absl::StatusOr<Level1> Level1::Create(MemoryIndexer* indexer, const Level1Options& options) {
  if (indexer == nullptr) return absl::InvalidArgumentError("Level1: null memory indexer");
  FM_RETURN_IF_ERROR(options.geometry.Validate());
  if (options.geometry.tokens_per_chunk != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Level1Options.geometry.tokens_per_chunk: ", options.geometry.tokens_per_chunk,
        ", expected 4 (the CSA compress ratio: a chunk is one stored index key)"));
  }
  if (options.kmax_max_pages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("Level1Options.kmax_max_pages: ",
                                                   options.kmax_max_pages, ", expected >= 1"));
  }
  FM_RETURN_IF_ERROR(options.policy.Validate(options.kmax_max_pages));
  return Level1(indexer, options);
}

absl::Status Level1::Attach(Sequence& seq) const {
  const std::vector<int64_t> layers = indexer_->model_layers();
  return seq.SetHiddenCapture(layers);
}

absl::Status Level1::RunCycle(Sequence& seq, Level1Result* out) {
  const int64_t len = seq.length();
  if (len == 0) return absl::FailedPreconditionError("Level1::RunCycle: the sequence is empty");
  const int64_t n_targets = indexer_->n_targets();
  const int64_t DI = indexer_->config().index_head_dim;
  const sched::GeometryConfig& g = options_.geometry;
  const int64_t n = seq.IndexKeyCount(indexer_->target(0).model_layer);
  out->n_chunks = n;
  out->probs.resize(static_cast<size_t>(n_targets));
  std::vector<absl::Span<const float>> spans;
  spans.reserve(static_cast<size_t>(n_targets));
  for (int64_t t = 0; t < n_targets; ++t) {
    const int64_t layer = indexer_->target(t).model_layer;
    if (seq.IndexKeyCount(layer) != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Level1::RunCycle: layer ", layer, " stores ", seq.IndexKeyCount(layer),
          " index keys but layer ", indexer_->target(0).model_layer, " stores ", n));
    }
    FM_ASSIGN_OR_RETURN(absl::Span<const float> h, seq.CapturedHidden(layer));
    keys_.resize(static_cast<size_t>(n * DI));
    FM_RETURN_IF_ERROR(seq.IndexKeys(layer, 0, n, keys_.data()));
    std::vector<float>& p = out->probs[static_cast<size_t>(t)];
    p.resize(static_cast<size_t>(n));
    FM_RETURN_IF_ERROR(indexer_->Probabilities(t, h, len - 1, keys_.data(), n, p.data()));
    spans.push_back(absl::MakeConstSpan(p));
  }
  FM_RETURN_IF_ERROR(sched::ComputePageDensity(spans, n, options_.policy.threshold, g, &out->density));
  const int32_t kmax = sched::EffectiveKmaxPages(options_.policy, sched::PagesForChunks(n, g),
                                                 options_.kmax_max_pages);
  FM_RETURN_IF_ERROR(sched::SelectPages(out->density, n, options_.policy, kmax, g, &out->selection));

  // Expand pages to chunks. With the spare pages, chunks formed before the next boundary (at most
  // one page of them, DESIGN.md §2.2) are reachable; without, only chunks j < n are.
  const sched::PageIndex next_page = sched::PageOf(sched::ChunkIndex{n}, g);
  const int64_t limit = options_.include_spare_page
                            ? sched::FirstChunkOf(sched::PageIndex{next_page.v + 2}, g).v
                            : n;
  ResidentSet set;
  set.mask.assign(static_cast<size_t>(limit), 0);
  auto mark = [&](sched::PageIndex page) {
    const int64_t first = sched::FirstChunkOf(page, g).v;
    const int64_t end = std::min<int64_t>(first + g.chunks_per_page, limit);
    for (int64_t j = first; j < end; ++j) set.mask[static_cast<size_t>(j)] = 1;
  };
  for (sched::PageIndex page : out->selection.ascending) mark(page);
  if (options_.include_spare_page) {
    mark(next_page);
    mark(sched::PageIndex{next_page.v + 1});
  }
  out->resident_chunks = std::count(set.mask.begin(), set.mask.end(), uint8_t{1});
  seq.SetResidentChunks(std::move(set));
  return absl::OkStatus();
}

}  // namespace fm::rt
