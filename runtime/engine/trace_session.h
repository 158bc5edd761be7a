#pragma once
// A telemetry session (DESIGN.md §6-§7): the process-wide collector feeding a .fmtrace file, a live
// socket for profiler clients, or both at once (the collector fans every frame out to each sink).
// Started before the engine runs and stopped (drained, file closed, clients told Bye) after.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/collector.h"
#include "traces/control.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/socket_server.h"
#include "traces/trace_file_writer.h"

namespace fm::rt {

// Where live telemetry is served (DESIGN.md §7, Connection).
struct TelemetryEndpoint {
  std::string unix_path;     // non-empty: a Unix stream socket (mode 0600) at this path
  std::string private_dir;   // non-empty: created with mode 0700 (and checked) before listening
  int tcp_port = -1;         // >= 0: TCP; 0 picks a free port
  bool tcp_bind_any = false; // 0.0.0.0 instead of 127.0.0.1
};

// Parses the value of `flashmem run --telemetry[=SPEC]`: "unix" is the default socket
// `default_dir`/`pid`.sock in the private folder `default_dir`; "unix:PATH" a socket at PATH (its
// folder must exist); "tcp:PORT" TCP on 127.0.0.1 (PORT in [0, 65535], 0 = any free port).
// InvalidArgument naming the text and the accepted forms otherwise. Reads no environment: the
// caller passes traces::DefaultSocketDir(...).
absl::StatusOr<TelemetryEndpoint> ParseTelemetrySpec(std::string_view spec,
                                                     const std::string& default_dir, uint32_t pid);

struct TraceSessionOptions {
  std::string trace_path;                      // .fmtrace file; empty: none
  std::optional<TelemetryEndpoint> telemetry;  // live socket; nullopt: none
  traces::Hello hello;                         // model and pools; pid and epochs filled in
};

class TraceSession {
 public:
  // A file-only session (the --trace FILE case).
  static absl::StatusOr<std::unique_ptr<TraceSession>> Start(const std::string& path,
                                                             const traces::Hello& hello = {});
  // Opens every requested sink, then starts collecting. InvalidArgument when neither a file nor
  // a socket is requested; FailedPrecondition when another collector runs; the writer's or the
  // socket's error (naming the path or port) when a sink cannot be opened.
  static absl::StatusOr<std::unique_ptr<TraceSession>> Start(const TraceSessionOptions& options);
  ~TraceSession();  // Stop()

  // Drains every emitted event into the sinks, closes the file and says Bye to live clients;
  // returns the file sink's first write error. Idempotent.
  absl::Status Stop();

  // Queues a non-event frame (Scores, Labels); it reaches the sinks after the events drained
  // before it. The collector queues at most 1024 frames and refuses more, so every 256 frames this
  // waits for a drain (Collector::Flush): a recording run trades a little step time for never
  // losing a frame. No-op after Stop(). Engine thread only.
  void PostFrame(traces::FrameKind kind, std::span<const uint8_t> payload);

  // Queues a Snapshot for every sink; it also becomes the one a newly connected client gets.
  // No-op after Stop(). Engine thread only (the thread that calls Stop).
  void PostSnapshot(const traces::Snapshot& snapshot);

  // The validated Control messages of live clients; null without a socket.
  traces::ControlQueue* controls() { return server_ ? &controls_ : nullptr; }
  // What a profiler passes to `flashmem-ui --connect`: "unix:PATH" or "tcp:127.0.0.1:PORT" (the
  // actual port when 0 was asked for); empty without a socket.
  std::string telemetry_address() const;
  // Clients connected now (0 without a socket). Thread-safe.
  size_t telemetry_clients() const { return server_ ? server_->client_count() : 0; }

 private:
  TraceSession() = default;
  traces::ControlQueue controls_;  // outlives the server that pushes into it
  std::unique_ptr<traces::Collector> collector_;
  std::shared_ptr<traces::FileSink> file_;
  std::shared_ptr<traces::SocketServer> server_;
  bool stopped_ = false;
  int64_t frames_since_flush_ = 0;
};

}  // namespace fm::rt
