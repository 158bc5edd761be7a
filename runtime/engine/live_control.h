#pragma once
// The runtime end of the profiler's control channel (DESIGN.md §5 "Live changes", §7 Control and
// Snapshot): between two engine steps it takes the Control messages the telemetry socket
// validated and queued, applies them to the engine, and posts Snapshots.
//
//   SetParam          Engine::SetKnob (global or one request); applied at each request's next
//                     cycle boundary and confirmed there by a Param event (name, value, request);
//                     a refusal the socket could not foresee (τ + Δ within a page, a request that
//                     left, full mode) goes back to the sender as a ControlReply.
//   SetPaused         AwaitRunnable stops the run loop at this step boundary and keeps serving
//                     (controls, snapshots) every 10 ms until resumed.
//   RequestSnapshot   a Snapshot at the next Poll; SetSnapshotPeriod sets the periodic one
//                     (default 100 ms).
//   SetCategories     at once: bit k of the mask records EventKind k, other kinds are dropped at
//                     their emit sites (traces::SetEventCategories), for every sink.
//
// Engine thread only, except Stop(). Poll never blocks: the queue is a mutex held for a copy.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/engine/engine.h"
#include "traces/control.h"
#include "traces/snapshot.h"

namespace fm::rt {

struct LiveControlOptions {
  int64_t snapshot_period_ms = 100;  // DESIGN.md §7; a Control SetSnapshotPeriod changes it
  int64_t pause_poll_ms = 10;        // how often a paused loop polls
};

// One Param confirmation: the knob took effect for `request` at engine step `step`.
struct KnobApplied {
  std::string name;
  double value = 0;
  uint32_t request = traces::kAllRequests;  // ~0: no request was active (the next admission)
  int64_t step = 0;
};

class LiveControl {
 public:
  using SnapshotPoster = std::function<void(const traces::Snapshot&)>;

  // `engine` and `controls` outlive this object; `controls` may be null (snapshots only, e.g. a
  // trace file without a socket). Sets the queue's validation limits from the engine and observes
  // the engine's cycles (Engine::SetCycleObserver) until destroyed.
  LiveControl(Engine* engine, traces::ControlQueue* controls, SnapshotPoster post_snapshot,
              LiveControlOptions options = {});
  ~LiveControl();
  LiveControl(const LiveControl&) = delete;
  LiveControl& operator=(const LiveControl&) = delete;

  // Between two steps: applies every queued Control message and posts a Snapshot when one is due
  // or was asked for. Never blocks.
  void Poll();

  // Poll(), then, while paused, keeps polling every pause_poll_ms, calling `on_paused` before each
  // wait (a progress line). Returns true when the next step may run, false once Stop() was called.
  bool AwaitRunnable(const std::function<void()>& on_paused = {});

  // Any thread: makes AwaitRunnable return false (now, or as soon as it wakes).
  void Stop() { stop_.store(true, std::memory_order_release); }

  bool paused() const { return paused_; }
  int64_t snapshot_period_ms() const { return period_ms_; }
  uint32_t snapshots_posted() const { return snapshot_id_; }
  // Every Param confirmation so far, in order (also emitted as Param events).
  const std::vector<KnobApplied>& applied() const { return applied_; }

 private:
  struct Pending {
    std::string name;
    double value = 0;
    std::vector<uint32_t> waiting;  // requests whose next boundary has not applied it yet
  };
  void Apply(const traces::ControlMessage& m);
  void Refuse(const traces::ControlMessage& m, const absl::Status& why);
  void OnCycle(uint32_t request, const sched::SchedulerParams& params);
  void Confirm(const std::string& name, double value, uint32_t request);
  void UpdateLimits();
  void PostSnapshot();

  Engine* engine_;
  traces::ControlQueue* controls_;
  SnapshotPoster post_snapshot_;
  LiveControlOptions options_;
  int64_t period_ms_;
  int64_t next_snapshot_ns_ = 0;  // MonotonicNs; 0: at the first Poll
  bool snapshot_asked_ = false;
  uint32_t snapshot_id_ = 0;
  bool paused_ = false;
  std::atomic<bool> stop_{false};
  std::vector<Pending> pending_;
  std::vector<KnobApplied> applied_;
  std::vector<traces::ControlMessage> scratch_;
};

}  // namespace fm::rt
