// Recording what `flashmem tune` replays (tools/tune/tune_trace.h, tools/docs/README.md): the
// Level-1 probabilities of each cycle boundary as Scores frames (kind 10) and the unrestricted
// Level-2 picks of each decode step as Labels frames (kind 11), both keyed by the request's own
// step. The scheduler staggers requests' boundaries by a phase, so a request's step counts from
// its first boundary minus τ (Request::step_origin): its boundaries then fall on multiples of τ,
// as tune's replay expects, and the admission cycle, which serves the steps before the first
// boundary, is recorded at step 0, the start of that window. The picks come from the full-attention shadow, not from the restricted
// sequence: the shadow's top-k is what Level 2 would pick with the whole context resident, the
// quantity residency must cover.

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_request.h"
#include "traces/wire_schema.h"

namespace fm::rt {

void Engine::RecordScores(const Request& r) {
  // Level 1 did not run at this step (a synthetic context before its first decode): nothing to
  // record, and tune does not replay the steps before a request's first snapshot.
  if (!config_.record_scores || session_ == nullptr || r.level1_step != step_) return;
  const Level1Result& l1 = r.level1;
  const size_t layers = std::min<size_t>(l1.probs.size(), 255);  // the frame's u8 layer count
  if (layers == 0 || l1.n_chunks <= 0) return;
  // Split the boundary so every payload stays under the frame bound (the header is 25 bytes).
  const int64_t per_frame =
      std::max<int64_t>(1, (traces::kMaxPayloadBytes - 64) / static_cast<int64_t>(layers));
  traces::Scores s;
  s.request_id = r.id;
  // A boundary retried after an exhausted pool still serves the window it was due for.
  const int64_t step = step_ - r.step_origin;
  s.step = static_cast<uint64_t>(step - step % config_.params.tau_steps);
  s.layers = static_cast<uint8_t>(layers);
  for (int64_t begin = 0; begin < l1.n_chunks; begin += per_frame) {
    const int64_t count = std::min(per_frame, l1.n_chunks - begin);
    s.chunk_begin = static_cast<uint64_t>(begin);
    s.chunk_count = static_cast<uint32_t>(count);
    s.sigma_q.resize(static_cast<size_t>(count) * layers);
    for (size_t l = 0; l < layers; ++l) {
      const std::vector<float>& p = l1.probs[l];
      for (int64_t c = 0; c < count; ++c) {
        const size_t j = static_cast<size_t>(begin + c);
        const float sigma = j < p.size() && std::isfinite(p[j]) ? p[j] : 0.0f;
        s.sigma_q[l * static_cast<size_t>(count) + static_cast<size_t>(c)] =
            static_cast<uint8_t>(std::lround(std::clamp(sigma, 0.0f, 1.0f) * 255.0f));
      }
    }
    session_->PostFrame(traces::FrameKind::kScores, traces::EncodeScores(s));
  }
}

absl::Status Engine::RecordLabels(const Request& r) {
  if (!config_.record_scores || session_ == nullptr || !r.shadow) return absl::OkStatus();
  traces::Labels l;
  l.request_id = r.id;
  l.step = static_cast<uint64_t>(step_ - r.step_origin);
  l.row_begin.push_back(0);
  for (int64_t layer : csa_layers_) {
    FM_ASSIGN_OR_RETURN(const IndexerTrace* t, r.shadow->LastIndexerTrace(layer));
    for (int32_t c : t->selected) {
      if (c < 0) continue;
      l.chunks.push_back(static_cast<uint64_t>(c));
      l.votes.push_back(1);
    }
    l.row_begin.push_back(static_cast<uint32_t>(l.chunks.size()));
  }
  // 10 bytes per pick: even 43 CSA layers of 512 picks stay far below the frame bound.
  if (l.chunks.size() * 10 + l.row_begin.size() * 4 + 64 > traces::kMaxPayloadBytes) {
    return absl::InternalError(absl::StrCat("Engine: request ", r.id, " step ", l.step, " has ",
                                            l.chunks.size(), " Level-2 picks, more than a Labels",
                                            " frame holds"));
  }
  session_->PostFrame(traces::FrameKind::kLabels, traces::EncodeLabels(l));
  return absl::OkStatus();
}

}  // namespace fm::rt
