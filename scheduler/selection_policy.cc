#include "scheduler/selection_policy.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_format.h"

namespace fm::sched {

absl::Status PolicyParams::Validate(int32_t kmax_max_pages) const {
  if (!(threshold > 0.0 && threshold < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PolicyParams.threshold: %g, expected in (0, 1)", threshold));
  }
  if (kmax_pages < 0 || kmax_pages > kmax_max_pages) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PolicyParams.kmax_pages: %d, expected in [0, kmax_max_pages %d]",
                        kmax_pages, kmax_max_pages));
  }
  if (tail_chunks < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PolicyParams.tail_chunks: %d, expected >= 0", tail_chunks));
  }
  if (sink_chunks < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PolicyParams.sink_chunks: %d, expected >= 0", sink_chunks));
  }
  return absl::OkStatus();
}

int32_t DefaultKmaxPages(int64_t context_pages) {
  constexpr int64_t kFloorPages = 96;
  // ceil(3/32 * pages): 1024 -> 96, 2048 -> 192, 4096 -> 384.
  const int64_t proportional = (context_pages * 3 + 31) / 32;
  const int64_t k = std::max(kFloorPages, proportional);
  return static_cast<int32_t>(std::min<int64_t>(k, std::numeric_limits<int32_t>::max()));
}

int32_t EffectiveKmaxPages(const PolicyParams& params, int64_t context_pages,
                           int32_t kmax_max_pages) {
  const int32_t k = params.kmax_pages > 0 ? params.kmax_pages : DefaultKmaxPages(context_pages);
  return std::min(k, kmax_max_pages);
}

absl::Status ComputePageDensity(absl::Span<const absl::Span<const float>> layer_probs,
                                int64_t n_chunks, double threshold, const GeometryConfig& geometry,
                                std::vector<uint8_t>* density) {
  if (geometry.chunks_per_page <= 0 || geometry.chunks_per_page > 255) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ComputePageDensity: chunks_per_page %d, expected in [1, 255]", geometry.chunks_per_page));
  }
  if (layer_probs.empty()) {
    return absl::InvalidArgumentError(
        "ComputePageDensity: layer_probs is empty, expected >= 1 layer");
  }
  if (n_chunks < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ComputePageDensity: n_chunks %d, expected >= 0", n_chunks));
  }
  for (size_t l = 0; l < layer_probs.size(); ++l) {
    if (static_cast<int64_t>(layer_probs[l].size()) < n_chunks) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ComputePageDensity: layer %d holds %d probabilities, expected >= "
                          "n_chunks %d",
                          l, layer_probs[l].size(), n_chunks));
    }
  }
  const int64_t n_pages = PagesForChunks(n_chunks, geometry);
  density->assign(static_cast<size_t>(n_pages), 0);
  const float thr = static_cast<float>(threshold);
  const int64_t per_page = geometry.chunks_per_page;
  // max_l p_l > thr is the same as "some layer above thr": OR one byte mask per layer over the
  // page, then count. Both loops are branch-free and vectorise.
  uint8_t above[255];
  for (int64_t p = 0; p < n_pages; ++p) {
    const int64_t begin = p * per_page;
    const int n = static_cast<int>(std::min(begin + per_page, n_chunks) - begin);
    std::fill(above, above + n, uint8_t{0});
    for (const absl::Span<const float>& probs : layer_probs) {
      const float* x = probs.data() + begin;
      for (int k = 0; k < n; ++k) above[k] |= static_cast<uint8_t>(x[k] > thr);
    }
    int32_t count = 0;
    for (int k = 0; k < n; ++k) count += above[k];
    (*density)[static_cast<size_t>(p)] = static_cast<uint8_t>(count);
  }
  return absl::OkStatus();
}

absl::Status SelectPages(absl::Span<const uint8_t> density, int64_t n_chunks,
                         const PolicyParams& params, int32_t kmax_pages,
                         const GeometryConfig& geometry, Selection* out) {
  if (geometry.chunks_per_page <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SelectPages: chunks_per_page %d, expected > 0", geometry.chunks_per_page));
  }
  const int64_t n_pages = PagesForChunks(n_chunks, geometry);
  if (n_chunks < 0 || static_cast<int64_t>(density.size()) != n_pages) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SelectPages: density has %d pages, expected %d for n_chunks %d",
                        density.size(), n_pages, n_chunks));
  }
  if (kmax_pages < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SelectPages: kmax_pages %d, expected >= 0", kmax_pages));
  }
  out->by_priority.clear();
  out->ascending.clear();
  out->kmax_pages = kmax_pages;
  out->forced_pages = 0;
  const int64_t k = std::min<int64_t>(kmax_pages, n_pages);
  out->chosen.assign(static_cast<size_t>(n_pages), 0);
  auto take = [&](int64_t p) {
    if (out->chosen[p] || static_cast<int64_t>(out->by_priority.size()) >= k) return;
    out->chosen[p] = 1;
    out->by_priority.push_back(PageIndex{p});
  };

  // Forced pages: the recency tail newest first, then the sink newest first.
  if (n_chunks > 0 && params.tail_chunks > 0) {
    const ChunkIndex first{std::max<int64_t>(0, n_chunks - params.tail_chunks)};
    for (int64_t p = n_pages - 1; p >= PageOf(first, geometry).v; --p) take(p);
  }
  if (n_chunks > 0 && params.sink_chunks > 0) {
    const ChunkIndex last{std::min(params.sink_chunks, n_chunks) - 1};
    for (int64_t p = PageOf(last, geometry).v; p >= 0; --p) take(p);
  }
  out->forced_pages = static_cast<int32_t>(out->by_priority.size());

  // The rest by density: a counting sort over the 256 byte values, filled newest page first so that
  // each bucket lists ties newest first. O(pages), no comparison sort.
  if (static_cast<int64_t>(out->by_priority.size()) < k) {
    out->bucket_start.assign(257, 0);
    for (int64_t p = 0; p < n_pages; ++p) {
      if (!out->chosen[p]) ++out->bucket_start[255 - density[p] + 1];
    }
    for (int b = 0; b < 256; ++b) out->bucket_start[b + 1] += out->bucket_start[b];
    out->order.resize(static_cast<size_t>(out->bucket_start[256]));
    for (int64_t p = n_pages - 1; p >= 0; --p) {
      if (!out->chosen[p])
        out->order[out->bucket_start[255 - density[p]]++] = static_cast<int32_t>(p);
    }
    for (int32_t p : out->order) {
      if (static_cast<int64_t>(out->by_priority.size()) >= k) break;
      take(p);
    }
  }
  out->ascending.reserve(out->by_priority.size());
  for (int64_t p = 0; p < n_pages; ++p) {
    if (out->chosen[p]) out->ascending.push_back(PageIndex{p});
  }
  return absl::OkStatus();
}

}  // namespace fm::sched
