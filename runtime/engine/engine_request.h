#pragma once
// The engine's per-request state (private to runtime/engine).

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/engine/engine_oracle.h"
#include "runtime/lsa/level1.h"
#include "runtime/model/model.h"
#include "scheduler/geometry.h"

namespace fm::rt {

struct Engine::Request {
  uint32_t id = 0;
  int64_t row = 0;  // engine row: the block of cold pages this request owns
  std::unique_ptr<Sequence> seq;
  std::unique_ptr<Sequence> shadow;  // full-attention twin fed the same tokens (coverage)
  std::unique_ptr<RunAheadOracle> oracle;  // oracle mode: a full run decoding ahead
  int32_t next_token = 0;
  int64_t decode_left = 0;
  bool has_hidden = false;  // the sequence processed a real token (Level 1 has an h snapshot)
  std::vector<int32_t> generated;
  std::vector<float> logits;
  std::vector<float> shadow_logits;
  Level1Result level1;
  // Engine step origin of the request's recorded steps (engine_record.cc): its first cycle
  // boundary minus τ, so its boundaries fall on multiples of τ whatever the scheduler's phase.
  int64_t step_origin = 0;
  int64_t level1_step = -1;  // engine step at which `level1` was last computed
  int64_t admit_step = 0;    // engine step of the request's first decode (its step 0)
  sched::RequestId sid() const { return sched::RequestId{id}; }
};

}  // namespace fm::rt
