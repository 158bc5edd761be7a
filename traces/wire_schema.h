#pragma once
// The telemetry wire layouts (DESIGN.md §6, §7). Everything here is little-endian, fixed-width and
// trivially copyable; the static_asserts make a layout change a compile error instead of a silent
// incompatibility between a runtime and a profiler built from different commits.

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace fm::traces {

// ---- Events (32-byte records; the hot path writes these into per-thread rings) ----

enum class EventKind : uint8_t {
  kZone = 1,       // t_ns start, a duration ns, b user argument
  kCounter = 2,    // t_ns sample, a value (int64 bits), b 0
  kStep = 3,       // t_ns GPU end of step, a step index, b lo32 rows | hi32 tokens emitted
  kRequest = 4,    // a request id, b bits 0-7 RequestState | hi32 row
  kSelect = 5,     // a request id, b lo32 cycle | bits 32-47 selected | bits 48-63 missing
  kCopyIssue = 6,  // t_ns host submit, a copy id, b bytes
  kCopyDone = 7,   // t_ns GPU start, a copy id, b GPU duration ns
  kPage = 8,       // a lo32 request | hi32 page, b bits 0-7 PageState | 8-31 slot | hi32 layer mask
  kPublish = 9,    // t_ns GPU flip, a request id, b lo32 generation | hi32 stall ns (saturating)
  kParam = 10,     // a f64 bits of the value, b request id or ~0 for all; name = parameter
  kMark = 11,      // a arg0, b arg1; name = message
  kDropped = 12,   // a records lost since the last report, b ring id
};
inline constexpr uint8_t kMinEventKind = 1;
inline constexpr uint8_t kMaxEventKind = 12;

// Event.flags bits.
inline constexpr uint8_t kGpuTime = 1u << 0;  // t_ns was converted from a GPU timestamp

enum class RequestState : uint8_t { kAdmitted = 1, kPrefilled = 2, kFinished = 3, kFailed = 4 };
enum class PageState : uint8_t { kCold = 0, kFetching = 1, kHot = 2, kDirty = 3, kWritingBack = 4 };
inline constexpr uint8_t kMaxPageState = 4;

// Request ids are u32 everywhere; this one means "every request" (Param.b, Control SetParam).
inline constexpr uint32_t kAllRequests = 0xFFFFFFFFu;

// One telemetry record. `track` 0 on the hot path means "the emitting thread's own track"; the
// collector replaces it with the ring's track id before the record reaches any sink.
struct Event {
  uint8_t kind;    // EventKind
  uint8_t flags;   // kGpuTime
  uint16_t track;  // TrackId from a TrackDef frame
  uint32_t name;   // StringId from a StringDef frame, 0 = none
  int64_t t_ns;    // session clock (ns since the Hello epoch)
  uint64_t a;
  uint64_t b;
  friend bool operator==(const Event&, const Event&) = default;
};
static_assert(sizeof(Event) == 32, "Event is a 32-byte wire record");
static_assert(offsetof(Event, track) == 2 && offsetof(Event, name) == 4);
static_assert(offsetof(Event, t_ns) == 8 && offsetof(Event, a) == 16 && offsetof(Event, b) == 24);
static_assert(std::is_trivially_copyable_v<Event>);

// Field packers for the kinds whose a/b carry several values. Decoders are the inverse.
inline constexpr uint64_t PackLoHi(uint32_t lo, uint32_t hi) {
  return static_cast<uint64_t>(lo) | (static_cast<uint64_t>(hi) << 32);
}
inline constexpr uint32_t Lo32(uint64_t v) { return static_cast<uint32_t>(v); }
inline constexpr uint32_t Hi32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
inline constexpr uint64_t PackSelect(uint32_t cycle, uint16_t selected, uint16_t missing) {
  return cycle | (static_cast<uint64_t>(selected) << 32) | (static_cast<uint64_t>(missing) << 48);
}
inline constexpr uint64_t PackPageB(PageState state, uint32_t slot, uint32_t layer_mask) {
  return static_cast<uint64_t>(state) | (static_cast<uint64_t>(slot & 0xFFFFFFu) << 8) |
         (static_cast<uint64_t>(layer_mask) << 32);
}
inline constexpr PageState PageStateOf(uint64_t b) { return static_cast<PageState>(b & 0xFF); }
inline constexpr uint32_t PageSlotOf(uint64_t b) { return static_cast<uint32_t>(b >> 8) & 0xFFFFFFu; }
inline constexpr uint64_t PackRequestB(RequestState state, uint32_t row) {
  return static_cast<uint64_t>(state) | (static_cast<uint64_t>(row) << 32);
}

// ---- Frames ----

enum class FrameKind : uint16_t {
  kHello = 1,
  kStringDef = 2,
  kTrackDef = 3,
  kEvents = 4,
  kSnapshot = 5,
  kStats = 6,
  kControl = 7,
  kControlReply = 8,
  kBye = 9,
  kScores = 10,
  kLabels = 11,
  kIndex = 12,
};
inline constexpr uint16_t kMaxFrameKind = 12;

inline constexpr uint32_t kFrameMagic = 0x31574D46u;  // "FMW1" read as a little-endian u32
inline constexpr uint16_t kWireVersion = 1;
inline constexpr uint32_t kMaxPayloadBytes = 1u << 20;  // bounds every reader allocation

// 24-byte frame header. crc32c covers the payload only, so one CRC serves every sink even though
// each connection numbers its own frames.
struct FrameHeader {
  uint32_t magic;        // kFrameMagic
  uint16_t version;      // kWireVersion
  uint16_t kind;         // FrameKind
  uint32_t payload_len;  // <= kMaxPayloadBytes
  uint32_t seq;          // +1 per frame on a connection or in a file; a gap means frames were dropped
  uint32_t crc;          // crc32c(payload)
  uint32_t reserved;     // 0
};
static_assert(sizeof(FrameHeader) == 24);
static_assert(offsetof(FrameHeader, payload_len) == 8 && offsetof(FrameHeader, seq) == 12);
static_assert(offsetof(FrameHeader, crc) == 16);
inline constexpr size_t kFrameHeaderBytes = sizeof(FrameHeader);
inline constexpr size_t kFrameSeqOffset = offsetof(FrameHeader, seq);

// Events per Events frame written by the collector: 256 KiB payloads keep every frame far under
// kMaxPayloadBytes and let a slow socket drop work in small units.
inline constexpr uint32_t kEventsPerFrame = 8192;
static_assert(4 + kEventsPerFrame * sizeof(Event) <= kMaxPayloadBytes);

// ---- .fmtrace file ----

inline constexpr char kFileMagic[8] = {'F', 'M', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr uint16_t kFileVersion = 1;

struct FileHeader {
  char magic[8];               // kFileMagic
  uint16_t file_version;       // kFileVersion
  uint16_t flags;              // 0
  uint32_t reserved0;          // 0
  uint64_t created_realtime_ns;
  uint64_t reserved1;          // 0
};
static_assert(sizeof(FileHeader) == 32);
static_assert(offsetof(FileHeader, created_realtime_ns) == 16);

inline constexpr char kTrailerMagic[8] = {'F', 'M', 'I', 'D', 'X', '\0', '\0', '\0'};

// Last 16 bytes of a cleanly closed file: where the Index frame starts.
struct FileTrailer {
  char magic[8];  // kTrailerMagic
  uint64_t index_offset;
};
static_assert(sizeof(FileTrailer) == 16);

// ---- Track types (TrackDef) ----

enum class TrackType : uint8_t { kThread = 0, kStream = 1, kRequest = 2 };
inline constexpr uint8_t kMaxTrackType = 2;

// ---- Snapshot sections ----

enum class SnapshotSection : uint16_t {
  kPools = 1,
  kParams = 2,
  kRequests = 3,
  kResidency = 4,
  kLatency = 5,
};

// ---- Control ops (ui -> runtime) ----

enum class ControlOp : uint16_t {
  kSetParam = 1,
  kRequestSnapshot = 2,
  kSetSnapshotPeriod = 3,
  kSetCategories = 4,
  kSetPaused = 5,  // pause/resume decoding at the next cycle boundary
};
inline constexpr uint16_t kMaxControlOp = 5;

// Human-readable names for diagnostics ("Events", "Zone", ...); "?" for out-of-range values.
const char* FrameKindName(uint16_t kind);
const char* EventKindName(uint8_t kind);

}  // namespace fm::traces
