#pragma once
// `flashmem trace export`: converts a .fmtrace file to Chrome Trace Event JSON (object form) that
// opens in Perfetto and chrome://tracing (DESIGN.md §7). Mapping: Zone -> X on (host or GPU pid,
// track); a copy -> X on its GPU stream lane with {bytes, gbps} plus an async b/e pair (cat
// "fetch") from issue to landed; Step -> X on a "decode steps" lane (duration = TPOT) and a
// tpot_ns counter; Counter -> C; Publish, Mark, Param, Select, Request, Dropped -> i; names ->
// M process_name / thread_name. Page events and residency have no JSON form.

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fm::traces {

// Process ids in the JSON: one per track type, so Perfetto groups host threads, GPU streams and
// per-request lanes.
inline constexpr int kHostPid = 1;
inline constexpr int kGpuPid = 2;
inline constexpr int kRequestPid = 3;
// tid of the synthetic "decode steps" lane in kHostPid (track ids are u16, so it never collides).
inline constexpr int kStepsTid = 70000;

struct ExportOptions {
  // Only events with from_ns <= t_ns < to_ns (session clock). A range disables the size cap.
  int64_t from_ns = std::numeric_limits<int64_t>::min();
  int64_t to_ns = std::numeric_limits<int64_t>::max();
  uint64_t max_output_bytes = 100ull << 20;  // DESIGN.md §7: exports are capped at 100 MB
  std::string git_sha;                       // goes into otherData
};

struct ExportResult {
  uint64_t trace_events = 0;  // JSON records written
  uint64_t output_bytes = 0;
  bool truncated = false;     // the size cap stopped the export early
  uint64_t pages_skipped = 0; // Page events (no JSON form)
  // OK, or the DataLoss of a damaged input: everything before the damage was exported and the
  // JSON is still complete and valid.
  absl::Status input_status;
};

// Writes `json_path` from `trace_path`. Fails (without a usable output) only when the trace cannot
// be opened or the output cannot be written.
absl::StatusOr<ExportResult> ExportChromeJson(const std::string& trace_path,
                                              const std::string& json_path,
                                              const ExportOptions& options);

}  // namespace fm::traces
