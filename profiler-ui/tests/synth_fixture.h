#pragma once
// A deterministic synthetic session for the profiler's tests, screenshots and benchmark: a runtime
// decoding one long request with τ-cycles, copies on a copy-engine lane, counters, snapshots, and a
// final residency laid out in known bands so pixel probes know which colour to expect where.
// Built with traces' own encoders, so the UI reads it through the real decoder.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "traces/wire_schema.h"

namespace fm::ui::testing {

struct FixtureConfig {
  uint32_t pages = 512;         // pages of the main request (4096 = a 1M-token context)
  int csa_layers = 21;
  uint32_t steps = 256;         // decode steps
  uint32_t tau_steps = 16;
  int64_t step_ns = 20'000'000;
  uint32_t copies_per_cycle = 24;
  uint32_t request_id = 7;
  uint32_t small_request_id = 9;  // a second, 64-page request
};

// The final residency bands of the main request (pages as fractions of cfg.pages):
//   [0, 1/4)   selected this cycle on every layer (green)
//   [1/4, 1/2) hot, not picked this cycle (orange)
//   [1/2, 5/8) in flight (yellow)
//   [5/8, 3/4) just evicted at the very end (violet)
//   [3/4, 1)   cold (slate)
enum class Band { kSelected, kHot, kInFlight, kJustEvicted, kCold };
Band BandOfPage(const FixtureConfig& cfg, uint32_t page);

struct FixtureFrame {
  traces::FrameKind kind;
  std::vector<uint8_t> payload;
};

// The session as frames in stream order (Hello, StringDef, TrackDef, Snapshot, Events..., Stats).
std::vector<FixtureFrame> MakeFixtureFrames(const FixtureConfig& cfg);

// Time of the last event of the session (the replay cursor's end).
int64_t FixtureEndNs(const FixtureConfig& cfg);

// Writes the session as a .fmtrace file through traces::TraceFileWriter.
absl::Status WriteFixtureFile(const FixtureConfig& cfg, const std::string& path);

}  // namespace fm::ui::testing
