#pragma once
// Level-1 page selection (spec §5.2, DESIGN.md §5): per-page density from the memory indexer's
// probabilities, the forced recency tail, an optional sink, and the KMAX densest pages with ties
// broken toward the more recent page. This file is the one definition of the policy: the CUDA
// density kernel is tested against ComputePageDensity.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "scheduler/geometry.h"

namespace fm::sched {

// Knobs of the policy. All settable at run time; the scheduler applies them at each request's next
// cycle boundary.
struct PolicyParams {
  double threshold = 0.5;      // a chunk counts when max_l σ_l > threshold; in (0, 1)
  int32_t kmax_pages = 0;      // pages kept per request; 0 = DefaultKmaxPages(context)
  int64_t tail_chunks = 2048;  // forced recency tail, in chunks (not tokens): 32-33 pages
  int64_t sink_chunks = 0;     // forced first chunks; 0 in the reference's launch config

  // InvalidArgument naming the field when threshold is outside (0, 1), kmax_pages is negative or
  // above `kmax_max_pages`, or a chunk count is negative.
  absl::Status Validate(int32_t kmax_max_pages) const;
};

// The documented KMAX rule: 96 / 192 / 384 pages at 256K / 512K / 1M tokens (3/32 of the context's
// pages, ≈ 9.4 %), never below 96 (the reference's launch default, which leaves ≈ 63 learned pages
// next to the ≈ 33 tail pages) and proportional beyond 1M. `context_pages` is the number of pages
// with content.
int32_t DefaultKmaxPages(int64_t context_pages);

// KMAX in effect for a request: params.kmax_pages when set, else the rule, capped at kmax_max.
int32_t EffectiveKmaxPages(const PolicyParams& params, int64_t context_pages,
                           int32_t kmax_max_pages);

// CPU reference of the Level-1 density: for each page, the number of its chunks j < n_chunks with
// max over layers of probs[l][j] > threshold ("or" ensemble). Each span in `layer_probs` must hold
// at least n_chunks values. Writes PagesForChunks(n_chunks) bytes into *density. InvalidArgument on
// empty layers or short spans.
absl::Status ComputePageDensity(absl::Span<const absl::Span<const float>> layer_probs,
                                int64_t n_chunks, double threshold, const GeometryConfig& geometry,
                                std::vector<uint8_t>* density);

// Output of SelectPages. Reused across calls to avoid allocation on the planner's hot path.
struct Selection {
  std::vector<PageIndex> by_priority;  // forced pages (tail newest first, then sink), then densest
                                       // first, ties toward the more recent page
  std::vector<PageIndex> ascending;    // the same pages sorted by page index
  int32_t kmax_pages = 0;              // KMAX applied
  int32_t forced_pages = 0;            // how many of by_priority are forced (tail + sink)
  // Scratch, kept to reuse its capacity.
  std::vector<uint8_t> chosen;
  std::vector<int32_t> bucket_start;
  std::vector<int32_t> order;
};

// Selects min(kmax, pages) pages of a context of `n_chunks` chunks whose per-page densities are
// `density` (PagesForChunks(n_chunks) bytes). Forced pages come first: every page holding one of
// the last tail_chunks chunks, then every page holding one of the first sink_chunks chunks; if the
// forced pages alone exceed kmax the most recent are kept. The rest are the densest pages, ties
// broken toward the more recent page. Deterministic. InvalidArgument when density has the wrong
// length.
absl::Status SelectPages(absl::Span<const uint8_t> density, int64_t n_chunks,
                         const PolicyParams& params, int32_t kmax_pages,
                         const GeometryConfig& geometry, Selection* out);

}  // namespace fm::sched
