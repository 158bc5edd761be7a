#pragma once
// Writes .fmtrace files: the 32-byte file header, frames numbered from 0, and on Close an Index
// frame of keyframe Snapshots plus the 16-byte trailer (DESIGN.md §7). TraceFileWriter is the
// plain writer (used by `flashmem trace synth` and tests); FileSink adapts it to the Collector.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/mutex.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"
#include "traces/sink.h"

namespace fm::traces {

// Keyframes are indexed at most this often (DESIGN.md §7: a keyframe Snapshot every 2 s).
inline constexpr int64_t kKeyframePeriodNs = 2'000'000'000;

class TraceFileWriter {
 public:
  // Creates or truncates `path` and writes the file header. NotFound/PermissionDenied-style errors
  // come back as Unavailable naming the path and errno text.
  static absl::StatusOr<std::unique_ptr<TraceFileWriter>> Create(const std::string& path,
                                                                 int64_t created_realtime_ns);
  ~TraceFileWriter();  // Close() when still open; its status is lost, so call Close() yourself
  TraceFileWriter(const TraceFileWriter&) = delete;
  TraceFileWriter& operator=(const TraceFileWriter&) = delete;

  // Appends one frame with the next seq. payload.size() <= kMaxPayloadBytes.
  absl::Status WriteFrame(FrameKind kind, std::span<const uint8_t> payload);
  // Appends an already encoded frame, stamping the next seq into its header.
  absl::Status WriteEncoded(const EncodedFrame& frame);

  // Writes the Index frame and trailer, then closes. Idempotent.
  absl::Status Close();

  uint64_t bytes_written() const { return offset_; }
  uint64_t frames_written() const { return seq_; }
  const std::string& path() const { return path_; }

 private:
  TraceFileWriter(std::string path, std::FILE* f);
  absl::Status Write(const void* data, size_t n);
  void NoteFrame(FrameKind kind, std::span<const uint8_t> payload, uint64_t frame_offset);

  std::string path_;
  std::FILE* file_;
  std::vector<char> buffer_;
  uint64_t offset_ = 0;
  uint32_t seq_ = 0;
  std::vector<IndexEntry> index_;
  int64_t last_keyframe_ns_ = 0;
  bool have_keyframe_ = false;
  absl::Status error_;
};

// A Sink that records the stream into a .fmtrace file. The first write error is kept (status())
// and later frames are counted as dropped instead of retried.
class FileSink : public Sink {
 public:
  explicit FileSink(std::unique_ptr<TraceFileWriter> writer);
  static absl::StatusOr<std::shared_ptr<FileSink>> Create(const std::string& path);

  void Begin(std::span<const EncodedFrame> preamble) override;
  void Deliver(const EncodedFrame& frame) override;
  void End() override;
  SinkStats stats() const override;
  // OK, or the first write/close error. Thread-safe.
  absl::Status status() const;

 private:
  std::unique_ptr<TraceFileWriter> writer_;
  mutable Mutex mu_;
  SinkStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fm::traces
