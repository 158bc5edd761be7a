#include "tools/tune/tune_trace.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "traces/payloads.h"
#include "traces/trace_file_reader.h"

namespace fm::tune {
namespace {

// Picks of one request before reduction: step -> page -> count.
using StepPages = std::map<int64_t, std::map<int64_t, uint32_t>>;

struct Builder {
  std::map<uint32_t, std::map<int64_t, ScoreSnapshot>> scores;
  std::map<uint32_t, StepPages> picks;
};

absl::Status AddScores(const std::string& path, uint64_t offset, const traces::Scores& s,
                       Builder* b) {
  auto fail = [&](const std::string& what) {
    return absl::DataLossError(
        absl::StrFormat("%s: Scores frame at offset %d (request %d, step %d): %s", path, offset,
                        s.request_id, s.step, what));
  };
  if (s.layers == 0) return fail("layers = 0, expected >= 1");
  if (s.step > (uint64_t{1} << 40)) return fail(absl::StrFormat("step %d is implausible", s.step));
  ScoreSnapshot& snap = b->scores[s.request_id][static_cast<int64_t>(s.step)];
  if (snap.layers == 0) {
    snap.step = static_cast<int64_t>(s.step);
    snap.layers = s.layers;
  }
  if (snap.layers != s.layers) {
    return fail(
        absl::StrFormat("layers = %d, earlier frames of this step had %d", s.layers, snap.layers));
  }
  if (s.chunk_begin != static_cast<uint64_t>(snap.n_chunks)) {
    return fail(absl::StrFormat("chunk_begin = %d, expected %d (ranges must be contiguous from 0)",
                                s.chunk_begin, snap.n_chunks));
  }
  // Append each layer's row: the stored layout is layer-major over the whole boundary.
  const int64_t old_n = snap.n_chunks;
  const int64_t new_n = old_n + s.chunk_count;
  std::vector<uint8_t> merged(static_cast<size_t>(new_n) * snap.layers);
  for (int32_t l = 0; l < snap.layers; ++l) {
    std::copy_n(snap.sigma_q.begin() + l * old_n, old_n, merged.begin() + l * new_n);
    std::copy_n(s.sigma_q.begin() + int64_t{l} * s.chunk_count, s.chunk_count,
                merged.begin() + l * new_n + old_n);
  }
  snap.sigma_q = std::move(merged);
  snap.n_chunks = new_n;
  return absl::OkStatus();
}

absl::Status AddLabels(const std::string& path, uint64_t offset, const traces::Labels& l,
                       const sched::GeometryConfig& g, Builder* b) {
  StepPages& steps = b->picks[l.request_id];
  const int64_t step = static_cast<int64_t>(l.step);
  if (steps.contains(step)) {
    return absl::DataLossError(absl::StrFormat(
        "%s: Labels frame at offset %d: request %d step %d has its Level-2 picks twice", path,
        offset, l.request_id, l.step));
  }
  std::map<int64_t, uint32_t>& pages = steps[step];
  for (uint64_t chunk : l.chunks) {
    if (chunk > (uint64_t{1} << 40)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: Labels frame at offset %d: chunk %d is implausible", path, offset, chunk));
    }
    ++pages[sched::PageOf(sched::ChunkIndex{static_cast<int64_t>(chunk)}, g).v];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TuneTrace> ReadTuneTrace(const std::string& path) {
  TuneTrace t;
  Builder b;
  bool geometry_fixed = false;
  absl::Status st = traces::ForEachFrame(path, [&](const traces::FrameView& f) -> absl::Status {
    switch (static_cast<traces::FrameKind>(f.kind)) {
      case traces::FrameKind::kHello: {
        FM_ASSIGN_OR_RETURN(traces::Hello h, traces::DecodeHello(f.payload));
        if (geometry_fixed) return absl::OkStatus();
        if (h.page_chunks > 0) t.geometry.chunks_per_page = h.page_chunks;
        if (h.chunk_tokens > 0) t.geometry.tokens_per_chunk = h.chunk_tokens;
        if (h.csa_layers > 0) t.geometry.csa_layers = h.csa_layers;
        if (h.slot_bytes > 0 && h.slot_bytes < (uint64_t{1} << 40)) {
          t.slot_bytes = static_cast<int64_t>(h.slot_bytes);
        }
        return absl::OkStatus();
      }
      case traces::FrameKind::kScores: {
        geometry_fixed = true;
        FM_ASSIGN_OR_RETURN(traces::Scores s, traces::DecodeScores(f.payload));
        return AddScores(path, f.offset, s, &b);
      }
      case traces::FrameKind::kLabels: {
        geometry_fixed = true;
        FM_ASSIGN_OR_RETURN(traces::Labels l, traces::DecodeLabels(f.payload));
        return AddLabels(path, f.offset, l, t.geometry, &b);
      }
      default:
        return absl::OkStatus();
    }
  });
  if (!st.ok()) {
    if (st.message().find(path) != std::string::npos) return st;
    return absl::Status(st.code(), absl::StrFormat("%s: %s", path, st.message()));
  }
  if (absl::Status g = t.geometry.Validate(); !g.ok()) {
    return absl::DataLossError(absl::StrFormat("%s: Hello geometry: %s", path, g.message()));
  }
  if (t.slot_bytes == 0) t.slot_bytes = t.geometry.slot_bytes();
  if (b.scores.empty()) {
    return absl::DataLossError(absl::StrFormat(
        "%s: no Scores frames (kind 10); record with `flashmem run --trace --record-scores`",
        path));
  }
  if (b.picks.empty()) {
    return absl::DataLossError(
        absl::StrFormat("%s: no Labels frames (kind 11) with Level-2 picks", path));
  }
  int64_t interval = 0;
  for (auto& [id, snaps] : b.scores) {
    RequestTrace r;
    r.request_id = id;
    int64_t prev = -1;
    for (auto& [step, snap] : snaps) {
      if (prev >= 0) interval = std::gcd(interval, step - prev);
      prev = step;
      r.boundaries.push_back(std::move(snap));
    }
    auto it = b.picks.find(id);
    if (it != b.picks.end()) {
      PickPages& p = r.picks;
      p.begin.push_back(0);
      for (const auto& [step, pages] : it->second) {
        p.steps.push_back(step);
        for (auto [page, count] : pages) {
          p.page.push_back(page);
          p.count.push_back(count);
          p.total_picks += count;
        }
        p.begin.push_back(static_cast<uint32_t>(p.page.size()));
      }
    }
    t.requests.push_back(std::move(r));
  }
  t.score_interval_steps = interval;
  return t;
}

}  // namespace fm::tune
