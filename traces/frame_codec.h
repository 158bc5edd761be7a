#pragma once
// Frame encoding and the incremental frame decoder shared by the file reader, the socket server
// (Control frames from the UI) and the profiler UI (live and replay use the same decoder,
// DESIGN.md §7).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/wire_schema.h"

namespace fm::traces {

// One complete frame (24-byte header + payload) ready to write. The header's seq is 0 until a sink
// stamps its own numbering with SetFrameSeq; the CRC covers only the payload so it stays valid.
struct EncodedFrame {
  FrameKind kind = FrameKind::kBye;
  std::vector<uint8_t> bytes;
};

// Builds a frame around `payload`. FM_CHECKs payload.size() <= kMaxPayloadBytes: every encoder in
// traces/ splits its output below that bound, so a larger payload is a bug here, not bad input.
EncodedFrame EncodeFrame(FrameKind kind, std::span<const uint8_t> payload, uint32_t seq = 0);

// Encodes an Events frame straight from records into `*out`, reusing its buffer (the drain's hot
// loop: no allocation once the buffer has grown). events.size() <= kEventsPerFrame.
void EncodeEventsFrame(std::span<const Event> events, EncodedFrame* out);

// Overwrites the seq field of an encoded frame (bytes.size() >= kFrameHeaderBytes).
void SetFrameSeq(std::span<uint8_t> frame_bytes, uint32_t seq);

// A decoded frame. `payload` points into the decoder's buffer and stays valid until the next
// Feed() on that decoder. `offset` is the byte offset of the header in the stream.
struct FrameView {
  uint16_t kind = 0;
  uint32_t seq = 0;
  uint64_t offset = 0;
  std::span<const uint8_t> payload;
};

// Turns a byte stream, fed in arbitrary pieces, into frames. Checks magic, version, length bound
// and CRC before exposing a payload, and never buffers more than one frame plus the last piece
// fed. Unknown frame kinds are skipped by length and counted. After the first damaged frame every
// Next() returns the same DataLoss (naming `source` and the byte offset); all frames before it were
// already returned. Not thread-safe; one decoder per stream.
class FrameDecoder {
 public:
  // `source` names the stream in errors (a path, "socket client 3"); `base_offset` is the stream
  // offset of the first byte fed (the file reader starts after the 32-byte file header).
  explicit FrameDecoder(std::string source, uint64_t base_offset = 0);

  // Appends bytes. Call Next() until it yields nullopt before feeding again to keep memory bounded.
  void Feed(std::span<const uint8_t> bytes);

  // The next complete, verified frame; nullopt when more bytes are needed; DataLoss on damage.
  absl::StatusOr<std::optional<FrameView>> Next();

  // End of stream: OK when nothing is buffered, DataLoss naming the offset of the partial frame
  // otherwise (a truncated file or a peer that vanished mid-frame), or the sticky error.
  absl::Status Finish() const;

  // Offset just past the last complete frame (where a truncated stream stops being usable).
  uint64_t consumed_offset() const { return base_offset_ + consumed_; }
  uint64_t frames_decoded() const { return frames_decoded_; }
  uint64_t unknown_kinds_skipped() const { return unknown_kinds_; }
  // Frames missing according to seq (sum of forward gaps; a backwards jump counts as one).
  uint64_t seq_gap_frames() const { return seq_gap_frames_; }
  size_t buffered_bytes() const { return buffer_.size() - read_pos_; }

 private:
  std::string source_;
  uint64_t base_offset_;
  std::vector<uint8_t> buffer_;
  size_t read_pos_ = 0;
  uint64_t consumed_ = 0;  // bytes of complete frames consumed since base_offset_
  absl::Status error_;
  bool have_seq_ = false;
  uint32_t next_seq_ = 0;
  uint64_t frames_decoded_ = 0;
  uint64_t unknown_kinds_ = 0;
  uint64_t seq_gap_frames_ = 0;
};

}  // namespace fm::traces
