#pragma once
// A telemetry session writing one .fmtrace file (DESIGN.md §6-§7): the process-wide collector with
// a file sink, started before the engine runs and stopped (drained, file closed) after.

#include <memory>
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

 private:
  TraceSession() = default;
  std::unique_ptr<traces::Collector> collector_;
  std::shared_ptr<traces::FileSink> sink_;
  bool stopped_ = false;
};

}  // namespace fm::rt
