#pragma once
// Reads .fmtrace files frame by frame with bounded memory (one read chunk plus one frame). A file
// with a valid trailer ends at its Index frame; one without (a crash) is scanned to its end. Every
// complete, verified frame before any damage is returned, then DataLoss naming the byte offset
// (DESIGN.md §7): data is never dropped silently.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"
#include "traces/wire_schema.h"

namespace fm::traces {

class TraceFileReader {
 public:
  // Opens `path` and checks the file header. NotFound when missing; DataLoss when the header is
  // short, has the wrong magic or an unsupported version.
  static absl::StatusOr<std::unique_ptr<TraceFileReader>> Open(const std::string& path);
  ~TraceFileReader();
  TraceFileReader(const TraceFileReader&) = delete;
  TraceFileReader& operator=(const TraceFileReader&) = delete;

  // The next verified frame (payload valid until the next call); nullopt at a clean end;
  // DataLoss (sticky) at the first damaged or truncated frame.
  absl::StatusOr<std::optional<FrameView>> Next();

  const FileHeader& header() const { return header_; }
  uint64_t file_bytes() const { return file_bytes_; }
  // True when the file ends with a trailer whose offset points inside the file.
  bool has_trailer() const { return has_trailer_; }
  const FrameDecoder& decoder() const { return decoder_; }
  const std::string& path() const { return path_; }

 private:
  TraceFileReader(std::string path, std::FILE* f);

  std::string path_;
  std::FILE* file_;
  FileHeader header_{};
  uint64_t file_bytes_ = 0;
  uint64_t data_end_ = 0;  // where frames stop (the trailer, or end of file)
  uint64_t read_at_ = 0;
  bool has_trailer_ = false;
  FrameDecoder decoder_;
  std::vector<uint8_t> chunk_;
};

// Calls `on_frame` for every frame of `path` in order. Stops early when the callback returns a
// non-OK status (returned as is). Returns DataLoss after delivering every frame before damage.
absl::Status ForEachFrame(const std::string& path,
                          const std::function<absl::Status(const FrameView&)>& on_frame);

}  // namespace fm::traces
