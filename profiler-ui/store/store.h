#pragma once
// The profiler's data store: everything decoded from one runtime session (a live connection or a
// replayed .fmtrace), kept as time-sorted struct-of-arrays so each view culls its visible range with
// lower_bound (DESIGN.md §8). Frames go in through IngestFrame (the same path for live and replay);
// views only read. Memory is bounded by StoreLimits: past a limit records are counted, not kept.
// Not thread-safe: the UI thread owns the store (the live client polls the socket on that thread).

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "profiler-ui/store/series.h"
#include "traces/control.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/wire_schema.h"

namespace fm::ui {

// Series the store derives from events, for the counter plots.
enum class Derived : int {
  kTokensPerS = 0,     // tokens emitted / step duration, one point per Step
  kTpotBoundaryMs,     // step duration of τ-boundary steps
  kTpotOtherMs,        // step duration of the other steps
  kCoverage,           // hit rate of Level-2 picks: Δhits / (Δhits + Δmisses), or 1 - missing/selected
  kLinkBytesPerS,      // copy bytes per kLinkBinNs bin, as bytes/s
  kHotPoolOccupancy,   // slots used / slots total (Pools snapshots or hot_slots_used_count)
  kStallFraction,      // publish stall / time since the request's previous publish
  kCount
};
inline constexpr int kDerivedCount = static_cast<int>(Derived::kCount);
const char* DerivedName(Derived d);
inline constexpr int64_t kLinkBinNs = 10'000'000;

struct StoreLimits {
  uint64_t max_events = 200'000'000;      // events kept (beyond: counted in store_dropped)
  uint64_t max_pending_copies = 1 << 20;  // issued copies waiting for their CopyDone
  uint32_t max_pages = 1 << 22;           // per request: 1G tokens at 256 tokens per page
  size_t max_keyframes = 512;             // residency keyframes; thinned by half when full
};

struct StepRec {
  int64_t t_ns;
  uint64_t step;
  uint32_t rows;
  uint32_t tokens;
  bool boundary;
};
struct SelectRec {
  int64_t t_ns;
  uint32_t request;
  uint32_t cycle;
  uint16_t selected;
  uint16_t missing;
};
struct PublishRec {
  int64_t t_ns;
  uint32_t request;
  uint32_t generation;
  uint32_t stall_ns;
};
struct ParamRec {
  int64_t t_ns;
  std::string name;
  double value;
  uint32_t request;
};
struct MarkRec {
  int64_t t_ns;
  uint32_t name;
  uint64_t a, b;
};
// Page events of one request, time-sorted.
struct PageEvents {
  bool sorted = true;
  std::vector<int64_t> t_ns;
  std::vector<uint32_t> page;
  std::vector<uint8_t> state;
  std::vector<uint32_t> mask;
};
// Residency of every request at one snapshot (parts of a snapshot merged).
struct Keyframe {
  uint32_t snapshot_id = 0;
  int64_t t_ns = 0;
  std::vector<traces::ResidencyEntry> residency;
};

class Store {
 public:
  explicit Store(StoreLimits limits = {});

  // Decodes one frame payload and applies it. A payload that fails to decode is counted
  // (decode_errors) and its status returned; the store stays consistent either way. A Hello from a
  // different process or epoch than the current one starts a new session (Clear()).
  absl::Status IngestFrame(uint16_t kind, std::span<const uint8_t> payload);
  void IngestEvent(const traces::Event& e);
  void IngestSnapshot(const traces::Snapshot& s);
  // Frames lost according to the frame seq (the decoder's gap count), for the dropped badge.
  void AddSeqGapFrames(uint64_t frames) { seq_gap_frames_ += frames; }
  // Sorts whatever arrived out of order. Call once after a batch of frames, before drawing.
  void Commit();
  void Clear();

  // ---- session ----
  const std::optional<traces::Hello>& hello() const { return hello_; }
  std::string StringOf(uint32_t id) const;
  const std::map<uint16_t, traces::TrackDefEntry>& tracks() const { return tracks_; }
  std::string TrackName(uint16_t track) const;
  int csa_layers() const;        // from Hello, or the snapshot's Level-2 layers, or 21
  uint64_t tokens_per_page() const;
  int64_t first_ns() const { return first_ns_; }
  int64_t last_ns() const { return last_ns_; }
  bool has_data() const { return last_ns_ >= first_ns_; }

  // ---- timeline ----
  const std::map<uint16_t, ZoneLane>& zones() const { return zones_; }
  const std::map<uint16_t, CopyLane>& copies() const { return copies_; }
  const std::vector<StepRec>& steps() const { return steps_; }
  const std::vector<SelectRec>& selects() const { return selects_; }
  const std::vector<PublishRec>& publishes() const { return publishes_; }
  const std::vector<ParamRec>& params_applied() const { return params_applied_; }
  const std::vector<MarkRec>& marks() const { return marks_; }

  // ---- counters ----
  const std::map<std::string, Series>& counters() const { return counters_; }
  const Series& derived(Derived d) const { return derived_[static_cast<int>(d)]; }

  // ---- residency ----
  const std::vector<Keyframe>& keyframes() const { return keyframes_; }
  const std::map<uint32_t, PageEvents>& page_events() const { return page_events_; }
  // Request ids seen in snapshots or Page events, ascending.
  std::vector<uint32_t> request_ids() const;

  // ---- latest snapshot state ----
  const std::optional<traces::PoolsSection>& pools() const { return pools_; }
  const std::optional<traces::ParamsSection>& params() const { return params_; }
  const std::vector<traces::RequestRow>& requests() const { return requests_; }
  const std::optional<traces::LatencyHistograms>& snapshot_latency() const { return latency_; }
  const std::optional<traces::Stats>& stats() const { return stats_; }
  const std::vector<traces::ControlReply>& control_replies() const { return control_replies_; }

  // ---- losses, for the dropped-events badge ----
  uint64_t runtime_dropped_events() const;  // Dropped events + the latest Stats ring drops
  uint64_t seq_gap_frames() const { return seq_gap_frames_; }
  uint64_t store_dropped() const { return store_dropped_; }
  uint64_t decode_errors() const { return decode_errors_; }
  uint64_t unmatched_copies() const { return unmatched_copies_; }
  uint64_t events_kept() const { return events_kept_; }
  uint64_t sessions() const { return sessions_; }

 private:
  void NoteTime(int64_t t);
  void OnCounter(const traces::Event& e);
  void OnStep(const traces::Event& e);
  void OnCopyDone(const traces::Event& e);
  void OnPage(const traces::Event& e);
  void OnPublish(const traces::Event& e);
  void FlushLinkBin(int64_t up_to_bin);
  uint32_t TauSteps() const;

  StoreLimits limits_;
  std::optional<traces::Hello> hello_;
  std::unordered_map<uint32_t, std::string> strings_;
  std::map<uint16_t, traces::TrackDefEntry> tracks_;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = -1;

  std::map<uint16_t, ZoneLane> zones_;
  std::map<uint16_t, CopyLane> copies_;
  struct PendingCopy {
    int64_t issue_ns;
    uint64_t bytes;
  };
  std::unordered_map<uint64_t, PendingCopy> pending_copies_;
  std::vector<StepRec> steps_;
  std::vector<SelectRec> selects_;
  std::vector<PublishRec> publishes_;
  std::unordered_map<uint32_t, int64_t> last_publish_ns_;
  std::vector<ParamRec> params_applied_;
  std::vector<MarkRec> marks_;
  std::map<std::string, Series> counters_;
  Series derived_[kDerivedCount];
  // Cumulative page hit/miss counters, for coverage deltas.
  bool coverage_from_counters_ = false;
  double hits_cur_ = -1, misses_cur_ = -1, hits_base_ = -1, misses_base_ = -1;
  bool hits_new_ = false, misses_new_ = false;
  bool occupancy_from_counter_ = false;
  bool records_unsorted_ = false;  // a Step/Select/Publish arrived out of time order
  int64_t link_bin_ = -1;
  uint64_t link_bin_bytes_ = 0;

  std::vector<Keyframe> keyframes_;
  std::map<uint32_t, PageEvents> page_events_;

  std::optional<traces::PoolsSection> pools_;
  std::optional<traces::ParamsSection> params_;
  std::vector<traces::RequestRow> requests_;
  std::optional<traces::LatencyHistograms> latency_;
  std::optional<traces::Stats> stats_;
  std::vector<traces::ControlReply> control_replies_;

  uint64_t dropped_events_reported_ = 0;
  uint64_t seq_gap_frames_ = 0;
  uint64_t store_dropped_ = 0;
  uint64_t decode_errors_ = 0;
  uint64_t unmatched_copies_ = 0;
  uint64_t events_kept_ = 0;
  uint64_t sessions_ = 0;
};

}  // namespace fm::ui
