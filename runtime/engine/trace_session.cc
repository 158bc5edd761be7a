#include "runtime/engine/trace_session.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace fm::rt {

absl::StatusOr<TelemetryEndpoint> ParseTelemetrySpec(std::string_view spec,
                                                     const std::string& default_dir,
                                                     uint32_t pid) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--telemetry=", std::string(spec), ": expected unix, unix:PATH or tcp:PORT (PORT in [0, 65535])"));
  };
  TelemetryEndpoint e;
  if (spec == "unix") {
    e.private_dir = default_dir;
    e.unix_path = absl::StrFormat("%s/%d.sock", default_dir, pid);
    return e;
  }
  if (spec.substr(0, 5) == "unix:") {
    e.unix_path = std::string(spec.substr(5));
    if (e.unix_path.empty()) return bad();
    return e;
  }
  if (spec.substr(0, 4) == "tcp:") {
    int port = -1;
    if (!absl::SimpleAtoi(std::string(spec.substr(4)), &port) || port < 0 || port > 65535) return bad();
    e.tcp_port = port;
    return e;
  }
  return bad();
}

absl::StatusOr<std::unique_ptr<TraceSession>> TraceSession::Start(const std::string& path,
                                                                  const traces::Hello& hello) {
  TraceSessionOptions options;
  options.trace_path = path;
  options.hello = hello;
  return Start(options);
}

absl::StatusOr<std::unique_ptr<TraceSession>> TraceSession::Start(
    const TraceSessionOptions& options) {
  if (options.trace_path.empty() && !options.telemetry) {
    return absl::InvalidArgumentError(
        "TraceSession: neither a trace file nor a telemetry socket requested");
  }
  auto session = std::unique_ptr<TraceSession>(new TraceSession());
  traces::CollectorOptions co;
  co.hello = options.hello;
  if (!options.trace_path.empty()) {
    FM_ASSIGN_OR_RETURN(session->file_, traces::FileSink::Create(options.trace_path));
  }
  if (options.telemetry) {
    const TelemetryEndpoint& t = *options.telemetry;
    if (!t.private_dir.empty()) FM_RETURN_IF_ERROR(traces::EnsurePrivateDir(t.private_dir));
    traces::SocketServerOptions so;
    so.unix_path = t.unix_path;
    so.tcp_port = t.tcp_port;
    so.tcp_bind_any = t.tcp_bind_any;
    so.controls = &session->controls_;
    FM_ASSIGN_OR_RETURN(session->server_, traces::SocketServer::Listen(std::move(so)));
    co.hello.capabilities |= traces::kCapControl;
  }
  session->collector_ = std::make_unique<traces::Collector>(co);
  if (session->file_) session->collector_->AddSink(session->file_);
  if (session->server_) session->collector_->AddSink(session->server_);
  FM_RETURN_IF_ERROR(session->collector_->Start());
  return session;
}

TraceSession::~TraceSession() { Stop().IgnoreError(); }

absl::Status TraceSession::Stop() {
  if (stopped_) return file_ ? file_->status() : absl::OkStatus();
  stopped_ = true;
  if (collector_) collector_->Stop();
  return file_ ? file_->status() : absl::OkStatus();
}

void TraceSession::PostFrame(traces::FrameKind kind, std::span<const uint8_t> payload) {
  if (stopped_) return;
  constexpr int64_t kFlushEveryFrames = 256;  // well below the collector's 1024 pending frames
  if (++frames_since_flush_ >= kFlushEveryFrames) {
    collector_->Flush();
    frames_since_flush_ = 0;
  }
  collector_->PostFrame(kind, payload);
}

void TraceSession::PostSnapshot(const traces::Snapshot& snapshot) {
  if (stopped_) return;
  collector_->PostSnapshot(snapshot);
}

std::string TraceSession::telemetry_address() const {
  if (!server_) return "";
  if (!server_->unix_path().empty()) return "unix:" + server_->unix_path();
  return absl::StrFormat("tcp:127.0.0.1:%d", server_->tcp_port());
}

}  // namespace fm::rt
