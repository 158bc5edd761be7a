#pragma once
// The recorded input of `flashmem tune`, read from a .fmtrace file (DESIGN.md §7):
//  - Scores frames (kind 10): at each Level-1 cycle boundary, the u8-quantised σ (σ x 255) of
//    every chunk for each target layer. A boundary may be split over several frames with
//    consecutive chunk ranges starting at chunk 0; together they cover [0, n_chunks).
//  - Labels frames (kind 11), reused as "Level-2 picks": for each decode step, one CSR row per
//    CSA layer that was recorded (any number of rows), the chunks Level-2's top-512 picked at
//    that step. votes are ignored (writers set 1).
//  - An optional Hello frame: page_chunks / chunk_tokens / slot_bytes override the V4-Flash
//    geometry when non-zero.
// Every other frame kind is skipped.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/geometry.h"

namespace fm::tune {

// One cycle boundary's Level-1 input for one request.
struct ScoreSnapshot {
  int64_t step = 0;
  int64_t n_chunks = 0;  // chunks with content at the boundary
  int32_t layers = 0;
  std::vector<uint8_t> sigma_q;  // layers x n_chunks, layer-major
};

// Level-2 picks of one request, reduced to pages: for step steps[i], pages
// page[begin[i]..begin[i+1]) were picked count[...] times (chunks summed over rows).
struct PickPages {
  std::vector<int64_t> steps;   // ascending
  std::vector<uint32_t> begin;  // steps.size() + 1 entries
  std::vector<int64_t> page;
  std::vector<uint32_t> count;
  int64_t total_picks = 0;
};

struct RequestTrace {
  uint32_t request_id = 0;
  std::vector<ScoreSnapshot> boundaries;  // ascending step
  PickPages picks;
};

struct TuneTrace {
  sched::GeometryConfig geometry;
  int64_t slot_bytes = 0;              // from Hello, else geometry.slot_bytes()
  int64_t score_interval_steps = 0;    // gcd of boundary step differences (0 with one boundary)
  std::vector<RequestTrace> requests;  // ascending request id
};

// Reads `path`. NotFound when missing; DataLoss naming the path, frame offset and field when a
// frame is damaged, a Scores range is not contiguous from chunk 0, layer counts disagree, a
// step's picks appear twice, or the file holds no Scores or no Labels frame.
absl::StatusOr<TuneTrace> ReadTuneTrace(const std::string& path);

}  // namespace fm::tune
