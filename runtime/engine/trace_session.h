#pragma once
// A telemetry session writing one .fmtrace file (DESIGN.md §6-§7): the process-wide collector with
// a file sink, started before the engine runs and stopped (drained, file closed) after.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/collector.h"
#include "traces/payloads.h"
#include "traces/trace_file_writer.h"

namespace fm::rt {

class TraceSession {
 public:
  // Creates `path` and starts collecting; `hello` describes the model and pools (the collector
  // fills in pid and epochs). FailedPrecondition when another collector runs; the
  // writer's error (naming the path) when the file cannot be created.
  static absl::StatusOr<std::unique_ptr<TraceSession>> Start(const std::string& path,
                                                             const traces::Hello& hello = {});
  ~TraceSession();  // Stop()

  // Drains every emitted event into the file and closes it; returns the sink's first write error.
  // Idempotent.
  absl::Status Stop();

  // Queues a non-event frame (Scores, Labels); it reaches the file after the events drained
  // before it. The collector queues at most 1024 frames and refuses more, so every 256 frames this
  // waits for a drain (Collector::Flush): a recording run trades a little step time for never
  // losing a frame. No-op after Stop(). Engine thread only.
  void PostFrame(traces::FrameKind kind, std::span<const uint8_t> payload);

 private:
  TraceSession() = default;
  std::unique_ptr<traces::Collector> collector_;
  std::shared_ptr<traces::FileSink> sink_;
  bool stopped_ = false;
  int64_t frames_since_flush_ = 0;
};

}  // namespace fm::rt
