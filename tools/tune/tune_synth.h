#pragma once
// Synthetic recorder for `flashmem tune` tests and demos (`flashmem tune --synth-trace OUT`).
// It writes the same frames `flashmem run --trace --record-scores` records (tune_trace.h) for a
// request whose Level-2 picks come from a planted page set known in advance:
//  - background chunks: σ in [0, 0.35] on every layer;
//  - planted pages (`planted_pages` of them; a quarter replaced every `phase_steps` steps): every
//    other chunk has σ = 140/255 ≈ 0.549 on one layer, so such a page has density 32 for a
//    threshold below 0.549 and 0 above;
//  - decoy pages (planted_pages / 2, fixed, never picked): every chunk has σ = 115/255 ≈ 0.451,
//    density 64 for a threshold below 0.451;
//  - Level-2 picks at each step: `picks_per_step - 64` chunks spread over the planted pages of
//    the step's phase, plus the newest 64 chunks.
// So every pick is resident exactly when the threshold lies in (0.451, 0.549), KMAX holds the
// forced tail pages plus the planted pages, and τ divides phase_steps (otherwise the selection
// is stale for the rest of a cycle after each phase change).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fm::tune {

struct SynthTuneOptions {
  int64_t prompt_tokens = 262'144;    // context when decoding starts
  int64_t steps = 10'000;             // decode steps (one token each)
  int32_t score_interval_steps = 32;  // Scores recorded at every multiple of this step
  int32_t planted_pages = 48;
  int32_t phase_steps = 320;  // planted set changes at multiples of this
  int32_t picks_per_step = 512;
  int32_t layers = 3;  // target layers in the Scores frames
  int32_t requests = 1;
  uint64_t seed = 1;
  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

// The planted pages in effect at `step` (ascending), as the writer plants them.
std::vector<int64_t> PlantedPages(const SynthTuneOptions& o, uint32_t request_id, int64_t step);

// Writes the trace. InvalidArgument on bad options; Unavailable when `path` cannot be written.
absl::Status WriteSynthTuneTrace(const SynthTuneOptions& o, const std::string& path);

}  // namespace fm::tune
