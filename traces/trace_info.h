#pragma once
// `flashmem trace info`: a one-pass summary of a .fmtrace file: who recorded it, what it holds
// (frames and events per kind, time span), what was lost (Dropped records, seq gaps, ring drops
// from the last Stats) and whether it is intact (CRC, truncation, trailer).

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/payloads.h"
#include "traces/wire_schema.h"

namespace fm::traces {

struct TraceInfo {
  std::string path;
  uint64_t file_bytes = 0;
  uint64_t valid_bytes = 0;  // up to the end of the last verified frame
  FileHeader header{};
  bool has_trailer = false;
  std::optional<Hello> hello;
  std::array<uint64_t, kMaxFrameKind + 1> frames_by_kind{};
  std::array<uint64_t, kMaxEventKind + 1> events_by_kind{};  // [0] counts unknown kinds
  uint64_t frames = 0;
  uint64_t events = 0;
  int64_t first_t_ns = 0;
  int64_t last_t_ns = 0;
  uint64_t strings = 0;
  uint64_t tracks = 0;
  uint64_t dropped_records = 0;      // sum of Dropped events
  uint64_t seq_gap_frames = 0;       // frames missing according to seq
  uint64_t unknown_frame_kinds = 0;  // skipped by length
  std::optional<Stats> last_stats;
  uint64_t index_entries = 0;
  uint64_t bad_payloads = 0;  // frames whose CRC passed but whose payload did not parse
  absl::Status first_payload_error;
  absl::Status integrity;  // OK, or the DataLoss that stopped the read (offset included)
};

// Reads the whole file once. Fails only when the file cannot be opened or its header is bad;
// damage further in is reported in TraceInfo::integrity.
absl::StatusOr<TraceInfo> ReadTraceInfo(const std::string& path);

// Multi-line human-readable report.
std::string FormatTraceInfo(const TraceInfo& info);

}  // namespace fm::traces
