#pragma once
// Typed payloads of the non-snapshot, non-control frames and their codecs (DESIGN.md §7). Every
// Decode* checks bounds before allocating and returns DataLoss naming the frame and field.
// Snapshot payloads live in snapshot.h, Control/ControlReply in control.h.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "traces/wire_schema.h"

namespace fm::traces {

// Who is talking, when its clock started and what it runs. First frame of every connection/file.
struct Hello {
  uint16_t protocol_version = kWireVersion;
  uint32_t pid = 0;
  std::string program;
  std::string host;
  int64_t epoch_monotonic_ns = 0;  // MonotonicNs() at session start: event t_ns are relative to it
  int64_t epoch_realtime_ns = 0;   // RealtimeNs() at the same instant
  std::string device_name;
  std::string device_uuid;
  uint16_t copy_engines = 0;
  // Model summary.
  uint16_t layers = 0;
  uint16_t csa_layers = 0;
  uint16_t chunk_tokens = 0;
  uint16_t page_chunks = 0;
  uint64_t slot_bytes = 0;
  // Pool sizes.
  uint64_t hot_slots_total = 0;
  uint64_t cold_pool_bytes = 0;
  uint64_t capabilities = 0;  // kCap* bits
  friend bool operator==(const Hello&, const Hello&) = default;
};
inline constexpr uint64_t kCapControl = 1u << 0;       // accepts Control frames
inline constexpr uint64_t kCapGpuTime = 1u << 1;       // emits kGpuTime events
inline constexpr uint64_t kCapScores = 1u << 2;        // records Scores frames

struct StringDefEntry {
  uint32_t id = 0;
  std::string text;
  friend bool operator==(const StringDefEntry&, const StringDefEntry&) = default;
};

struct TrackDefEntry {
  uint16_t track = 0;
  TrackType type = TrackType::kThread;
  uint32_t name = 0;  // StringId
  friend bool operator==(const TrackDefEntry&, const TrackDefEntry&) = default;
};

struct RingStats {
  uint32_t ring_id = 0;
  uint64_t produced = 0;    // records pushed into the ring
  uint64_t dropped = 0;     // records refused because the ring was full
  uint32_t high_water = 0;  // most records seen waiting in the ring at once
  friend bool operator==(const RingStats&, const RingStats&) = default;
};
struct SinkStats {
  std::string name;
  uint64_t frames_sent = 0;
  uint64_t frames_dropped = 0;
  uint64_t bytes = 0;
  friend bool operator==(const SinkStats&, const SinkStats&) = default;
};
struct Stats {
  std::vector<RingStats> rings;
  std::vector<SinkStats> sinks;
  friend bool operator==(const Stats&, const Stats&) = default;
};

struct IndexEntry {
  uint64_t offset = 0;  // file offset of a keyframe Snapshot frame header
  int64_t t_ns = 0;
  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
};

// u8-quantised Level-1 scores (sigma * 255) for a chunk range, one row per target layer.
struct Scores {
  uint32_t request_id = 0;
  uint64_t step = 0;
  uint64_t chunk_begin = 0;
  uint32_t chunk_count = 0;
  uint8_t layers = 0;
  std::vector<uint8_t> sigma_q;  // layers * chunk_count, layer-major
  friend bool operator==(const Scores&, const Scores&) = default;
};

// Golden chunks for one step in CSR form: row r (a layer) owns chunks[row_begin[r]..row_begin[r+1]).
struct Labels {
  uint32_t request_id = 0;
  uint64_t step = 0;
  std::vector<uint32_t> row_begin;  // rows + 1 entries, non-decreasing, last == chunks.size()
  std::vector<uint64_t> chunks;
  std::vector<uint16_t> votes;  // one per chunk
  friend bool operator==(const Labels&, const Labels&) = default;
};

std::vector<uint8_t> EncodeHello(const Hello& h);
absl::StatusOr<Hello> DecodeHello(std::span<const uint8_t> payload);

// StringDef/TrackDef payloads: u32 count, then entries. Encoders split long lists into several
// payloads, each under kMaxPayloadBytes.
std::vector<std::vector<uint8_t>> EncodeStringDefs(std::span<const StringDefEntry> entries);
absl::StatusOr<std::vector<StringDefEntry>> DecodeStringDefs(std::span<const uint8_t> payload);
std::vector<std::vector<uint8_t>> EncodeTrackDefs(std::span<const TrackDefEntry> entries);
absl::StatusOr<std::vector<TrackDefEntry>> DecodeTrackDefs(std::span<const uint8_t> payload);

// Events payload: u32 count, Event[count]. events.size() <= kEventsPerFrame.
std::vector<uint8_t> EncodeEvents(std::span<const Event> events);
// Appends the events to *out (no allocation beyond the payload's own count).
absl::Status DecodeEvents(std::span<const uint8_t> payload, std::vector<Event>* out);

std::vector<uint8_t> EncodeStats(const Stats& s);
absl::StatusOr<Stats> DecodeStats(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeBye(const std::string& reason);
absl::StatusOr<std::string> DecodeBye(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeIndex(std::span<const IndexEntry> entries);
absl::StatusOr<std::vector<IndexEntry>> DecodeIndex(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeScores(const Scores& s);
absl::StatusOr<Scores> DecodeScores(std::span<const uint8_t> payload);

std::vector<uint8_t> EncodeLabels(const Labels& l);
absl::StatusOr<Labels> DecodeLabels(std::span<const uint8_t> payload);

}  // namespace fm::traces
