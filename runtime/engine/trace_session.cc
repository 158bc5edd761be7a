#include "runtime/engine/trace_session.h"

#include <utility>

#include "common/status_macros.h"

namespace fm::rt {

absl::StatusOr<std::unique_ptr<TraceSession>> TraceSession::Start(const std::string& path,
                                                                  const traces::Hello& hello) {
  auto session = std::unique_ptr<TraceSession>(new TraceSession());
  FM_ASSIGN_OR_RETURN(session->sink_, traces::FileSink::Create(path));
  traces::CollectorOptions options;
  options.hello = hello;
  session->collector_ = std::make_unique<traces::Collector>(options);
  session->collector_->AddSink(session->sink_);
  FM_RETURN_IF_ERROR(session->collector_->Start());
  return session;
}

TraceSession::~TraceSession() { Stop().IgnoreError(); }

absl::Status TraceSession::Stop() {
  if (stopped_) return sink_ ? sink_->status() : absl::OkStatus();
  stopped_ = true;
  collector_->Stop();
  return sink_->status();
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

}  // namespace fm::rt
