#include "traces/frame_codec.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/little_endian.h"
#include "traces/crc32c.h"

namespace fm::traces {

const char* FrameKindName(uint16_t kind) {
  static constexpr const char* kNames[] = {"?",         "Hello",   "StringDef", "TrackDef", "Events",
                                           "Snapshot",  "Stats",   "Control",   "ControlReply",
                                           "Bye",       "Scores",  "Labels",    "Index"};
  return kind <= kMaxFrameKind ? kNames[kind] : "?";
}

const char* EventKindName(uint8_t kind) {
  static constexpr const char* kNames[] = {"?",       "Zone",   "Counter",   "Step",
                                           "Request", "Select", "CopyIssue", "CopyDone",
                                           "Page",    "Publish", "Param",    "Mark",
                                           "Dropped"};
  return kind <= kMaxEventKind ? kNames[kind] : "?";
}

EncodedFrame EncodeFrame(FrameKind kind, std::span<const uint8_t> payload, uint32_t seq) {
  FM_CHECK(payload.size() <= kMaxPayloadBytes);
  EncodedFrame f;
  f.kind = kind;
  f.bytes.resize(kFrameHeaderBytes + payload.size());
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.version = kWireVersion;
  h.kind = static_cast<uint16_t>(kind);
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.seq = seq;
  h.crc = Crc32c(0, payload.data(), payload.size());
  h.reserved = 0;
  std::memcpy(f.bytes.data(), &h, sizeof(h));
  if (!payload.empty()) std::memcpy(f.bytes.data() + kFrameHeaderBytes, payload.data(), payload.size());
  return f;
}

void EncodeEventsFrame(std::span<const Event> events, EncodedFrame* out) {
  FM_CHECK(events.size() <= kEventsPerFrame);
  const size_t payload_bytes = 4 + events.size() * sizeof(Event);
  out->kind = FrameKind::kEvents;
  out->bytes.resize(kFrameHeaderBytes + payload_bytes);
  uint8_t* payload = out->bytes.data() + kFrameHeaderBytes;
  StoreLE<uint32_t>(payload, static_cast<uint32_t>(events.size()));
  if (!events.empty()) std::memcpy(payload + 4, events.data(), events.size() * sizeof(Event));
  FrameHeader h{};
  h.magic = kFrameMagic;
  h.version = kWireVersion;
  h.kind = static_cast<uint16_t>(FrameKind::kEvents);
  h.payload_len = static_cast<uint32_t>(payload_bytes);
  h.crc = Crc32c(0, payload, payload_bytes);
  std::memcpy(out->bytes.data(), &h, sizeof(h));
}

void SetFrameSeq(std::span<uint8_t> frame_bytes, uint32_t seq) {
  FM_CHECK(frame_bytes.size() >= kFrameHeaderBytes);
  StoreLE<uint32_t>(frame_bytes.data() + kFrameSeqOffset, seq);
}

FrameDecoder::FrameDecoder(std::string source, uint64_t base_offset)
    : source_(std::move(source)), base_offset_(base_offset) {}

void FrameDecoder::Feed(std::span<const uint8_t> bytes) {
  if (!error_.ok()) return;  // nothing after the damage is trusted; do not grow the buffer
  if (read_pos_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(read_pos_));
    read_pos_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

absl::StatusOr<std::optional<FrameView>> FrameDecoder::Next() {
  while (true) {
    if (!error_.ok()) return error_;
    size_t avail = buffer_.size() - read_pos_;
    if (avail < kFrameHeaderBytes) return std::optional<FrameView>();
    const uint8_t* p = buffer_.data() + read_pos_;
    const uint64_t offset = consumed_offset();
    FrameHeader h;
    std::memcpy(&h, p, sizeof(h));
    if (h.magic != kFrameMagic) {
      error_ = absl::DataLossError(absl::StrFormat(
          "%s: frame at byte offset %d: magic 0x%08x, expected 0x%08x (\"FMW1\")", source_, offset,
          h.magic, kFrameMagic));
      continue;
    }
    if (h.version != kWireVersion) {
      error_ = absl::DataLossError(
          absl::StrFormat("%s: frame at byte offset %d: wire version %d, expected %d", source_,
                          offset, h.version, kWireVersion));
      continue;
    }
    if (h.payload_len > kMaxPayloadBytes) {
      error_ = absl::DataLossError(absl::StrFormat(
          "%s: frame at byte offset %d (%s): payload_len %d, expected <= %d", source_, offset,
          FrameKindName(h.kind), h.payload_len, kMaxPayloadBytes));
      continue;
    }
    if (avail < kFrameHeaderBytes + h.payload_len) return std::optional<FrameView>();
    std::span<const uint8_t> payload(p + kFrameHeaderBytes, h.payload_len);
    uint32_t crc = Crc32c(0, payload.data(), payload.size());
    if (crc != h.crc) {
      error_ = absl::DataLossError(absl::StrFormat(
          "%s: frame at byte offset %d (%s, %d payload bytes): crc32c 0x%08x, header says 0x%08x",
          source_, offset, FrameKindName(h.kind), h.payload_len, crc, h.crc));
      continue;
    }
    read_pos_ += kFrameHeaderBytes + h.payload_len;
    consumed_ += kFrameHeaderBytes + h.payload_len;
    if (have_seq_ && h.seq != next_seq_) {
      uint32_t gap = h.seq - next_seq_;  // wraps: a backwards jump shows up as a huge gap
      seq_gap_frames_ += gap < 0x80000000u ? gap : 1;
    }
    have_seq_ = true;
    next_seq_ = h.seq + 1;
    if (h.kind == 0 || h.kind > kMaxFrameKind) {
      ++unknown_kinds_;  // a newer writer's frame kind: skipped by length, never an error
      continue;
    }
    ++frames_decoded_;
    return std::optional<FrameView>(FrameView{h.kind, h.seq, offset, payload});
  }
}

absl::Status FrameDecoder::Finish() const {
  if (!error_.ok()) return error_;
  size_t left = buffer_.size() - read_pos_;
  if (left == 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat(
      "%s: truncated frame at byte offset %d: %d bytes present, stream ended before the frame did",
      source_, consumed_offset(), left));
}

}  // namespace fm::traces
