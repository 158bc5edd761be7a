#pragma once
// The telemetry drain: one thread that empties every producer ring, turns records into Events
// frames (preceded by any new StringDef/TrackDef), forwards Snapshots and other posted frames,
// writes a Stats frame every second and feeds every Sink (DESIGN.md §3, §6, §7). Producers never
// wait for it; when it falls behind, their rings fill and records are dropped and counted, and the
// drop reaches the stream as a Dropped event.

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "traces/mutex.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"
#include "traces/registry.h"
#include "traces/sink.h"
#include "traces/snapshot.h"

namespace fm::traces {

struct CollectorOptions {
  // Sent first to every sink. pid and the epochs are filled in by the Collector.
  Hello hello;
  int64_t stats_period_ns = 1'000'000'000;
  // How long the drain thread idles when every ring was empty (DESIGN.md §3: 1 ms).
  int idle_wait_ms = 1;
};

class Collector : private PreambleSource {
 public:
  explicit Collector(CollectorOptions options, Registry& registry = Registry::Global());
  ~Collector() override;  // Stop()
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Adds a sink. It gets the preamble on the next drain iteration, then every later frame.
  // Thread-safe, before or after Start.
  void AddSink(std::shared_ptr<Sink> sink);

  // Enables telemetry process-wide and starts the drain thread. FailedPrecondition when another
  // Collector is running (there is one Registry, so there is one drain).
  absl::Status Start();
  // Enables telemetry without a thread: the caller drives DrainOnce() (deterministic tests, the
  // benchmark's drain loop).
  absl::Status StartManual();

  // Disables telemetry, drains what the rings still hold, ends every sink and joins the thread.
  // Idempotent.
  void Stop();

  // One drain iteration; returns the records taken from rings. In thread mode only the drain
  // thread calls it.
  size_t DrainOnce();

  // Returns once every record emitted before the call has been delivered to every sink (for
  // tests and clean shutdown). Never used on the decode path.
  void Flush();

  // Encodes `s` on the calling thread and queues it; it becomes the Snapshot sent to every new
  // reader. Thread-safe. If the drain falls behind, older queued snapshots are replaced.
  void PostSnapshot(const Snapshot& s);
  // Queues any other frame (Scores, Labels, Mark-like file-only data). Thread-safe.
  void PostFrame(FrameKind kind, std::span<const uint8_t> payload);

  // Counters (thread-safe).
  Stats stats() const;
  uint64_t records_delivered() const { return records_delivered_.load(std::memory_order_acquire); }
  uint64_t drops_reported() const { return drops_reported_.load(std::memory_order_acquire); }

 private:
  std::vector<EncodedFrame> BuildPreamble() override;
  void Run();
  void SyncDefinitions();
  void FlushEvents();
  void DeliverAll(const EncodedFrame& f);
  void EmitDropped(uint64_t lost, uint32_t ring_id, uint16_t track);
  void AppendEvent(const Event& e);

  CollectorOptions options_;
  Registry& registry_;

  // Drain-thread state.
  std::vector<std::shared_ptr<Sink>> sinks_;
  std::vector<Event> events_;
  size_t event_count_ = 0;
  EncodedFrame events_frame_;  // reused for every Events frame
  size_t string_cursor_ = 0;
  size_t track_cursor_ = 0;
  std::vector<StringDefEntry> all_strings_;
  std::vector<TrackDefEntry> all_tracks_;
  std::vector<EncodedFrame> latest_snapshot_;
  std::vector<uint64_t> last_dropped_ = std::vector<uint64_t>(Registry::kMaxRings, 0);
  std::vector<uint32_t> high_water_ = std::vector<uint32_t>(Registry::kMaxRings, 0);
  uint64_t last_unregistered_ = 0;
  int64_t next_stats_ns_ = 0;
  std::atomic<uint64_t> records_delivered_{0};
  std::atomic<uint64_t> drops_reported_{0};

  mutable Mutex mu_;
  std::vector<std::shared_ptr<Sink>> pending_sinks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<EncodedFrame>> pending_snapshots_ ABSL_GUARDED_BY(mu_);
  std::vector<EncodedFrame> pending_frames_ ABSL_GUARDED_BY(mu_);
  std::vector<RingStats> ring_stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Sink>> stat_sinks_ ABSL_GUARDED_BY(mu_);
  uint64_t iterations_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ = false;
  bool manual_ = false;
  std::thread thread_;
};

}  // namespace fm::traces
