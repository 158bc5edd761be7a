#pragma once
// A Sink that keeps every frame in memory, for tests and the benchmark. Thread-safe reads.

#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "traces/mutex.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"
#include "traces/sink.h"

namespace fm::traces {

class MemorySink : public Sink {
 public:
  // keep_frames=false counts events without storing frames (benchmarks).
  explicit MemorySink(bool keep_frames = true) : keep_frames_(keep_frames) {}

  void Begin(std::span<const EncodedFrame> preamble) override {
    for (const auto& f : preamble) Deliver(f);
  }
  void Deliver(const EncodedFrame& frame) override {
    MutexLock lock(&mu_);
    ++stats_.frames_sent;
    stats_.bytes += frame.bytes.size();
    if (frame.kind == FrameKind::kEvents) {
      events_in_frames_ += (frame.bytes.size() - kFrameHeaderBytes - 4) / sizeof(Event);
    }
    if (keep_frames_) frames_.push_back(frame);
  }
  void End() override {
    MutexLock lock(&mu_);
    ended_ = true;
  }
  SinkStats stats() const override {
    MutexLock lock(&mu_);
    return stats_;
  }

  std::vector<EncodedFrame> frames() const {
    MutexLock lock(&mu_);
    return frames_;
  }
  uint64_t events_in_frames() const {
    MutexLock lock(&mu_);
    return events_in_frames_;
  }
  bool ended() const {
    MutexLock lock(&mu_);
    return ended_;
  }

 private:
  const bool keep_frames_;
  mutable Mutex mu_;
  std::vector<EncodedFrame> frames_ ABSL_GUARDED_BY(mu_);
  SinkStats stats_ ABSL_GUARDED_BY(mu_) = SinkStats{"memory", 0, 0, 0};
  uint64_t events_in_frames_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fm::traces
