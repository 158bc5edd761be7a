#pragma once
// The live telemetry endpoint (DESIGN.md §7, Connection): a Sink that serves the frame stream to
// up to 4 profiler clients over a Unix stream socket (mode 0600) and/or TCP bound to 127.0.0.1,
// and reads their Control frames. All socket I/O is non-blocking and runs on the drain thread
// inside Poll(), so a slow or vanished client can never stall the runtime: each client has a
// bounded queue, and on overflow only Events frames are dropped (visible to the client as a seq
// gap and in Stats); definitions, snapshots and replies get through unless the client falls
// twice the queue bound behind, which disconnects it.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "traces/mutex.h"
#include "traces/control.h"
#include "traces/frame_codec.h"
#include "traces/sink.h"

namespace fm::traces {

struct SocketServerOptions {
  std::string unix_path;           // non-empty: listen here (a stale socket file is replaced)
  int tcp_port = -1;               // >= 0: also listen on TCP; 0 picks a free port
  bool tcp_bind_any = false;       // --telemetry-bind-any: 0.0.0.0 instead of 127.0.0.1
  size_t max_clients = 4;
  size_t client_queue_bytes = 16u << 20;
  // Validated Control messages go here; null means the server answers Control with Unimplemented.
  ControlQueue* controls = nullptr;
};

// The directory where runtimes put their sockets and the UI looks for them: "$XDG_RUNTIME_DIR/
// flashmem" when set, else "$TMPDIR/flashmem-<uid>" (TMPDIR defaulting to /tmp). The values are
// passed in: libraries never read the environment (tools/ does).
std::string DefaultSocketDir(const char* xdg_runtime_dir, const char* tmpdir, uint32_t uid);
// Creates `dir` with mode 0700 if missing; FailedPrecondition when it exists but is not a
// directory owned by us with no group/other access.
absl::Status EnsurePrivateDir(const std::string& dir);

class SocketServer : public Sink {
 public:
  static absl::StatusOr<std::shared_ptr<SocketServer>> Listen(SocketServerOptions options);
  ~SocketServer() override;

  void Begin(std::span<const EncodedFrame> preamble) override;
  void Deliver(const EncodedFrame& frame) override;
  bool Poll(PreambleSource& preamble, int wait_ms) override;
  void End() override;
  SinkStats stats() const override;

  int tcp_port() const { return bound_tcp_port_; }  // actual port, -1 without TCP
  const std::string& unix_path() const { return options_.unix_path; }
  // Thread-safe counters for tests and the stats view.
  size_t client_count() const;
  uint64_t clients_accepted() const;
  uint64_t clients_rejected() const;

 private:
  struct Client;
  explicit SocketServer(SocketServerOptions options);
  absl::Status OpenListeners();
  void Accept(int listen_fd, PreambleSource& preamble);
  void Enqueue(Client& c, const EncodedFrame& frame);
  bool ReadFrom(Client& c);   // false: drop the client
  bool WriteTo(Client& c);    // false: drop the client
  void HandleFrame(Client& c, const FrameView& f);
  void SendRuntimeReplies();  // ControlQueue::PostReply answers to their clients
  void RemoveDead();

  SocketServerOptions options_;
  int unix_fd_ = -1;
  int tcp_fd_ = -1;
  int bound_tcp_port_ = -1;
  uint32_t next_client_id_ = 1;
  std::vector<std::unique_ptr<Client>> clients_;  // drain thread only
  bool ended_ = false;

  mutable Mutex mu_;
  SinkStats stats_ ABSL_GUARDED_BY(mu_);
  size_t client_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fm::traces
