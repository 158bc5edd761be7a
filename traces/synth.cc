#include "traces/synth.h"

#include <algorithm>
#include <bit>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/standard_names.h"
#include "traces/trace_file_writer.h"
#include "traces/wire_schema.h"

namespace fm::traces {
namespace {

// splitmix64: tiny, and unlike <random> distributions its output is the same on every platform,
// so a seed names one byte-exact trace.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }

 private:
  uint64_t s_;
};

constexpr uint16_t kEngineTrack = 1;
constexpr uint16_t kPlannerTrack = 2;
constexpr uint16_t kComputeTrack = 3;
constexpr uint16_t kH2dTrack = 4;
constexpr uint16_t kIndexerTrack = 5;
constexpr uint16_t kFirstRequestTrack = 6;
constexpr uint64_t kKvBlockBytes = 37376;      // one layer's page block (DESIGN.md §2.1)
constexpr double kLinkBytesPerNs = 50.0;       // 50 GB/s pinned H2D
constexpr int64_t kPerCopyNs = 2000;           // descriptor + launch cost per coalesced run
constexpr uint32_t kTailPages = 4;

struct Request {
  uint32_t id = 0;
  uint32_t phase = 0;
  uint32_t cycle = 0;
  uint32_t generation = 0;
  std::vector<uint8_t> state;
  std::vector<uint32_t> selected;  // sorted
  std::vector<uint32_t> evict_on_publish;
  uint64_t publish_step = UINT64_MAX;
  int64_t copies_end_ns = 0;
};

class Synth {
 public:
  Synth(const SynthOptions& o, TraceFileWriter* w) : o_(o), w_(w), rng_(o.seed) {
    delta_ = o.delta_steps;
  }

  absl::Status Run() {
    FM_RETURN_IF_ERROR(WriteDefinitions());
    kmax_ = std::min(o_.kmax_pages, o_.pages);
    slot_bytes_ = kKvBlockBytes * o_.layers;
    hot_slots_ = static_cast<uint32_t>(o_.requests * (kmax_ + 2) * 5 / 4);
    int64_t t = 1'000'000;
    for (uint32_t r = 0; r < o_.requests; ++r) {
      Request q;
      q.id = r + 1;
      q.phase = static_cast<uint32_t>(uint64_t{r} * o_.tau_steps / o_.requests);
      q.state.assign(o_.pages, static_cast<uint8_t>(PageState::kCold));
      q.selected = Select({});
      for (uint32_t p : q.selected) {
        q.state[p] = static_cast<uint8_t>(PageState::kHot);
        Add(EventKind::kPage, 0, t, PackLoHi(q.id, p), PackPageB(PageState::kHot, Slot(), ~0u),
            RequestTrack(r));
      }
      Add(EventKind::kRequest, 0, t, q.id, PackRequestB(RequestState::kAdmitted, r), RequestTrack(r));
      Add(EventKind::kRequest, 0, t + 500'000, q.id, PackRequestB(RequestState::kPrefilled, r),
          RequestTrack(r));
      reqs_.push_back(std::move(q));
    }
    FM_RETURN_IF_ERROR(WriteSnapshot(t, true));
    next_snapshot_ns_ = t + o_.snapshot_period_ns;
    next_stats_ns_ = t + 1'000'000'000;
    for (uint64_t s = 0; s < o_.steps; ++s) {
      FM_ASSIGN_OR_RETURN(t, Step(s, t));
    }
    for (uint32_t r = 0; r < o_.requests; ++r) {
      Add(EventKind::kRequest, 0, t, reqs_[r].id, PackRequestB(RequestState::kFinished, r),
          RequestTrack(r));
    }
    FM_RETURN_IF_ERROR(WriteSnapshot(t, true));
    FM_RETURN_IF_ERROR(WriteStats());
    FM_RETURN_IF_ERROR(FlushEvents());
    return absl::OkStatus();
  }

  SynthSummary& summary() { return sum_; }

 private:
  uint16_t RequestTrack(uint32_t r) const { return static_cast<uint16_t>(kFirstRequestTrack + r); }
  uint32_t Slot() { return next_slot_++ % std::max<uint32_t>(hot_slots_, 1); }

  uint32_t Str(const std::string& s) {
    strings_.push_back(StringDefEntry{static_cast<uint32_t>(strings_.size() + 1), s});
    return strings_.back().id;
  }

  absl::Status WriteDefinitions() {
    Hello h;
    h.pid = 4242;
    h.program = "flashmem trace synth";
    h.host = "synthetic";
    h.epoch_monotonic_ns = 1'000'000'000;
    h.epoch_realtime_ns = 1'767'225'600'000'000'000;  // fixed: same seed, same bytes
    h.device_name = "synthetic H100";
    h.device_uuid = "GPU-00000000-0000-0000-0000-000000000000";
    h.copy_engines = 2;
    h.layers = 43;
    h.csa_layers = static_cast<uint16_t>(o_.layers);
    h.chunk_tokens = 4;
    h.page_chunks = 64;
    h.slot_bytes = kKvBlockBytes * o_.layers;
    h.hot_slots_total = uint64_t{o_.requests} * (std::min(o_.kmax_pages, o_.pages) + 2) * 5 / 4;
    h.cold_pool_bytes = uint64_t{o_.requests} * o_.pages * h.slot_bytes;
    h.capabilities = kCapControl | kCapGpuTime;
    FM_RETURN_IF_ERROR(Write(FrameKind::kHello, EncodeHello(h)));

    z_step_ = Str("engine.step");
    z_launch_ = Str("engine.launch");
    z_plan_ = Str("sched.plan");
    z_graph_ = Str("gpu.graph");
    z_score_ = Str("indexer.score");
    c_tokens_ = Str(names::kTokens);
    c_slots_ = Str(names::kHotSlotsUsed);
    c_inflight_ = Str(names::kInflightBytes);
    c_h2d_ = Str(names::kH2dBytes);
    c_hits_ = Str(names::kPageHits);
    c_misses_ = Str(names::kPageMisses);
    c_evictions_ = Str(names::kEvictions);
    c_stall_ = Str(names::kPublishStall);
    p_threshold_ = Str("threshold");
    p_kmax_ = Str("kmax");
    p_delta_ = Str("delta");
    m_slow_ = Str("slow step");
    std::vector<TrackDefEntry> tracks = {
        {kEngineTrack, TrackType::kThread, Str("engine")},
        {kPlannerTrack, TrackType::kThread, Str("planner")},
        {kComputeTrack, TrackType::kStream, Str("compute")},
        {kH2dTrack, TrackType::kStream, Str("h2d")},
        {kIndexerTrack, TrackType::kStream, Str("indexer")},
    };
    for (uint32_t r = 0; r < o_.requests; ++r) {
      tracks.push_back({RequestTrack(r), TrackType::kRequest, Str(absl::StrFormat("request %d", r + 1))});
    }
    for (const auto& p : EncodeStringDefs(strings_)) FM_RETURN_IF_ERROR(Write(FrameKind::kStringDef, p));
    for (const auto& p : EncodeTrackDefs(tracks)) FM_RETURN_IF_ERROR(Write(FrameKind::kTrackDef, p));
    return absl::OkStatus();
  }

  absl::Status Write(FrameKind kind, const std::vector<uint8_t>& payload) {
    ++sum_.frames;
    return w_->WriteFrame(kind, payload);
  }

  void Add(EventKind kind, uint32_t name, int64_t t, uint64_t a, uint64_t b, uint16_t track,
           uint8_t flags = 0) {
    events_.push_back(Event{static_cast<uint8_t>(kind), flags, track, name, t, a, b});
    ++sum_.events;
  }
  void Counter(uint32_t name, int64_t t, int64_t v, uint16_t track) {
    Add(EventKind::kCounter, name, t, static_cast<uint64_t>(v), 0, track);
  }

  absl::Status FlushEvents() {
    for (size_t i = 0; i < events_.size(); i += kEventsPerFrame) {
      size_t n = std::min<size_t>(kEventsPerFrame, events_.size() - i);
      FM_RETURN_IF_ERROR(Write(FrameKind::kEvents, EncodeEvents(std::span<const Event>(events_.data() + i, n))));
    }
    events_.clear();
    return absl::OkStatus();
  }

  // Recency tail, then pages kept from `prev` with probability 0.9, then new pages drawn with a
  // bias toward recent context (u^2 folds the draw toward the end).
  std::vector<uint32_t> Select(const std::vector<uint32_t>& prev) {
    std::vector<uint8_t> in(o_.pages, 0);
    std::vector<uint32_t> out;
    auto take = [&](uint32_t p) {
      if (!in[p] && out.size() < kmax_) {
        in[p] = 1;
        out.push_back(p);
      }
    };
    for (uint32_t i = 0; i < kTailPages && i < o_.pages; ++i) take(o_.pages - 1 - i);
    for (uint32_t p : prev) {
      if (rng_.Uniform() < 0.9) take(p);
    }
    for (int guard = 0; out.size() < kmax_ && guard < 64 * static_cast<int>(kmax_) + 64; ++guard) {
      double u = rng_.Uniform();
      take(o_.pages - 1 - static_cast<uint32_t>(u * u * o_.pages) % o_.pages);
    }
    for (uint32_t p = 0; out.size() < kmax_ && p < o_.pages; ++p) take(p);
    std::sort(out.begin(), out.end());
    return out;
  }

  void Cycle(Request& q, uint32_t r, int64_t t0) {
    const uint16_t rt = RequestTrack(r);
    Add(EventKind::kZone, z_score_, t0 + 20'000, 80'000 + rng_.Below(20'000), q.cycle, kIndexerTrack, kGpuTime);
    const int64_t plan_ns = 250'000 + static_cast<int64_t>(rng_.Below(150'000));
    const int64_t plan_at = t0 + 120'000;
    Add(EventKind::kZone, z_plan_, plan_at, static_cast<uint64_t>(plan_ns), q.cycle, kPlannerTrack);
    std::vector<uint32_t> next = Select(q.selected);
    std::vector<uint32_t> missing;
    std::vector<uint32_t> evicted;
    std::set_difference(next.begin(), next.end(), q.selected.begin(), q.selected.end(), std::back_inserter(missing));
    std::set_difference(q.selected.begin(), q.selected.end(), next.begin(), next.end(), std::back_inserter(evicted));
    const int64_t t_sel = plan_at + plan_ns;
    Add(EventKind::kSelect, 0, t_sel, q.id,
        PackSelect(q.cycle, static_cast<uint16_t>(std::min<size_t>(next.size(), 0xFFFF)),
                   static_cast<uint16_t>(std::min<size_t>(missing.size(), 0xFFFF))), rt);
    hits_ += next.size() - missing.size();
    misses_ += missing.size();
    Counter(c_hits_, t_sel, static_cast<int64_t>(hits_), kPlannerTrack);
    Counter(c_misses_, t_sel, static_cast<int64_t>(misses_), kPlannerTrack);
    // Coalesce sorted misses into contiguous runs: one copy (descriptor) per run.
    int64_t inflight = 0;
    int64_t issue_at = t_sel + 10'000;
    q.copies_end_ns = t_sel;
    for (size_t i = 0; i < missing.size();) {
      size_t j = i + 1;
      while (j < missing.size() && missing[j] == missing[j - 1] + 1) ++j;
      const uint64_t bytes = (j - i) * slot_bytes_;
      const uint64_t id = ++copy_id_;
      Add(EventKind::kCopyIssue, 0, issue_at, id, bytes, kH2dTrack);
      const int64_t start = std::max(issue_at + 8'000, link_free_ns_);
      const int64_t dur = kPerCopyNs + static_cast<int64_t>(static_cast<double>(bytes) / kLinkBytesPerNs *
                                                            (1.0 + 0.15 * rng_.Uniform()));
      link_free_ns_ = start + dur;
      Add(EventKind::kCopyDone, 0, start, id, static_cast<uint64_t>(dur), kH2dTrack, kGpuTime);
      latency_.Add(&latency_.fetch_ns, static_cast<uint64_t>(start + dur - issue_at));
      latency_.Add(&latency_.copy_ns, static_cast<uint64_t>(dur));
      for (size_t k = i; k < j; ++k) {
        const uint32_t slot = Slot();
        q.state[missing[k]] = static_cast<uint8_t>(PageState::kFetching);
        Add(EventKind::kPage, 0, issue_at, PackLoHi(q.id, missing[k]), PackPageB(PageState::kFetching, slot, ~0u), rt);
        Add(EventKind::kPage, 0, start + dur, PackLoHi(q.id, missing[k]), PackPageB(PageState::kHot, slot, ~0u), rt);
      }
      inflight += static_cast<int64_t>(bytes);
      h2d_bytes_ += bytes;
      q.copies_end_ns = std::max(q.copies_end_ns, start + dur);
      issue_at += 3'000;
      ++sum_.copies;
      i = j;
    }
    Counter(c_inflight_, t_sel + 10'000, inflight, kPlannerTrack);
    Counter(c_inflight_, q.copies_end_ns, 0, kPlannerTrack);
    Counter(c_h2d_, q.copies_end_ns, static_cast<int64_t>(h2d_bytes_), kPlannerTrack);
    q.selected = std::move(next);
    q.evict_on_publish = std::move(evicted);
    ++q.cycle;
  }

  void Publish(Request& q, uint32_t r, int64_t t_flip) {
    const int64_t stall = std::max<int64_t>(0, q.copies_end_ns - t_flip);
    ++q.generation;
    Add(EventKind::kPublish, 0, t_flip + stall, q.id, PackLoHi(q.generation, static_cast<uint32_t>(std::min<int64_t>(stall, 0xFFFFFFFF))),
        RequestTrack(r), kGpuTime);
    if (stall > 0) Counter(c_stall_, t_flip + stall, stall, kEngineTrack);
    for (uint32_t p : q.selected) q.state[p] = static_cast<uint8_t>(PageState::kHot);
    for (uint32_t p : q.evict_on_publish) {
      q.state[p] = static_cast<uint8_t>(PageState::kCold);
      Add(EventKind::kPage, 0, t_flip + stall, PackLoHi(q.id, p), PackPageB(PageState::kCold, 0, 0), RequestTrack(r));
    }
    evictions_ += q.evict_on_publish.size();
    Counter(c_evictions_, t_flip + stall, static_cast<int64_t>(evictions_), kEngineTrack);
    q.evict_on_publish.clear();
    q.publish_step = UINT64_MAX;
  }

  absl::StatusOr<int64_t> Step(uint64_t s, int64_t t) {
    int64_t tpot = static_cast<int64_t>(static_cast<double>(o_.tpot_ns) * (0.92 + 0.16 * rng_.Uniform()));
    if (rng_.Below(97) == 0) {
      tpot *= 2;  // an occasional slow step (host hiccup) for the TPOT plot to show
      Add(EventKind::kMark, m_slow_, t, s, static_cast<uint64_t>(tpot), kEngineTrack);
    }
    Add(EventKind::kZone, z_step_, t, static_cast<uint64_t>(tpot * 95 / 100), s, kEngineTrack);
    Add(EventKind::kZone, z_launch_, t + 20'000, 150'000, s, kEngineTrack);
    Add(EventKind::kZone, z_graph_, t + 200'000, static_cast<uint64_t>(tpot * 85 / 100), s, kComputeTrack, kGpuTime);
    const int64_t end = t + tpot;
    Add(EventKind::kStep, 0, end, s, PackLoHi(o_.requests, o_.requests), kComputeTrack, kGpuTime);
    tokens_ += o_.requests;
    Counter(c_tokens_, end, static_cast<int64_t>(tokens_), kEngineTrack);
    for (uint32_t r = 0; r < o_.requests; ++r) {
      Request& q = reqs_[r];
      if (q.publish_step == s) Publish(q, r, t + 100'000);
      if (s >= q.phase && (s - q.phase) % o_.tau_steps == 0 && q.publish_step == UINT64_MAX) {
        Cycle(q, r, t);
        q.publish_step = s + delta_;
      }
    }
    uint64_t used = 0;
    for (const Request& q : reqs_) used += q.selected.size() + 2;
    Counter(c_slots_, end, static_cast<int64_t>(std::min<uint64_t>(used, hot_slots_)), kPlannerTrack);
    // A few live parameter changes, as the UI's controls would make them.
    if (s == o_.steps / 3) {
      threshold_ = 0.42;
      Add(EventKind::kParam, p_threshold_, end, std::bit_cast<uint64_t>(threshold_), kAllRequests, kPlannerTrack);
    }
    if (s == o_.steps / 2) {
      kmax_ = std::max<uint32_t>(kTailPages + 1, kmax_ * 3 / 4);
      Add(EventKind::kParam, p_kmax_, end, std::bit_cast<uint64_t>(static_cast<double>(kmax_)), kAllRequests, kPlannerTrack);
    }
    if (s == 2 * o_.steps / 3) {
      delta_ = std::max<uint32_t>(1, delta_ / 2);
      Add(EventKind::kParam, p_delta_, end, std::bit_cast<uint64_t>(static_cast<double>(delta_)), 1, kPlannerTrack);
    }
    if (s == o_.steps / 4 || s == 3 * o_.steps / 4) {
      const uint64_t lost = 13 + rng_.Below(50);
      Add(EventKind::kDropped, 0, end, lost, 1, kPlannerTrack);
      sum_.dropped_records += lost;
      ring_dropped_ += lost;
    }
    if (end >= next_snapshot_ns_) {
      const bool keyframe = end - last_keyframe_ns_ >= kKeyframePeriodNs;
      FM_RETURN_IF_ERROR(WriteSnapshot(end, keyframe));
      next_snapshot_ns_ = end + o_.snapshot_period_ns;
    }
    if (end >= next_stats_ns_) {
      FM_RETURN_IF_ERROR(WriteStats());
      next_stats_ns_ = end + 1'000'000'000;
    }
    return end;
  }

  absl::Status WriteSnapshot(int64_t t, bool keyframe) {
    FM_RETURN_IF_ERROR(FlushEvents());
    Snapshot snap;
    snap.snapshot_id = snapshot_id_++;
    snap.t_ns = t;
    uint32_t used = 0;
    uint32_t fetching = 0;
    for (const Request& q : reqs_) {
      for (uint8_t st : q.state) {
        used += st == static_cast<uint8_t>(PageState::kHot) || st == static_cast<uint8_t>(PageState::kFetching);
        fetching += st == static_cast<uint8_t>(PageState::kFetching);
      }
    }
    snap.pools = PoolsSection{slot_bytes_, hot_slots_, std::min(used, hot_slots_), fetching, 0,
                              uint64_t{o_.requests} * o_.pages * slot_bytes_,
                              uint64_t{o_.requests} * o_.pages * slot_bytes_ * 5 / 4};
    snap.params = ParamsSection{o_.tau_steps, delta_, threshold_, kmax_, o_.kmax_pages, kTailPages, 1, 0};
    std::vector<RequestRow> rows;
    for (uint32_t r = 0; r < o_.requests; ++r) {
      const Request& q = reqs_[r];
      rows.push_back(RequestRow{q.id, r, uint64_t{o_.pages} * 256, o_.pages, q.phase, q.generation});
      ResidencyEntry e;
      e.request_id = q.id;
      e.page_states = q.state;
      if (keyframe) {  // Level-2 use counts only in keyframes: they dominate the snapshot size
        e.l2_layers = static_cast<uint8_t>(o_.layers);
        e.l2_use.assign(uint64_t{o_.pages} * o_.layers, 0);
        for (uint32_t p : q.selected) {
          for (uint32_t l = 0; l < o_.layers; ++l) {
            e.l2_use[uint64_t{p} * o_.layers + l] = static_cast<uint8_t>(rng_.Below(65));
          }
        }
      }
      snap.residency.push_back(std::move(e));
    }
    snap.requests = std::move(rows);
    snap.latency = latency_;
    if (keyframe) last_keyframe_ns_ = t;
    for (const auto& p : EncodeSnapshot(snap)) FM_RETURN_IF_ERROR(Write(FrameKind::kSnapshot, p));
    ++sum_.snapshots;
    return absl::OkStatus();
  }

  absl::Status WriteStats() {
    FM_RETURN_IF_ERROR(FlushEvents());
    Stats st;
    st.rings.push_back(RingStats{0, sum_.events / 2, 0, 900});
    st.rings.push_back(RingStats{1, sum_.events / 2, ring_dropped_, 8192});
    // The sink name is fixed (not the path) so a seed names the same bytes wherever it is written.
    st.sinks.push_back(SinkStats{"file:synthetic", sum_.frames, 0, w_->bytes_written()});
    return Write(FrameKind::kStats, EncodeStats(st));
  }

  const SynthOptions& o_;
  TraceFileWriter* w_;
  Rng rng_;
  std::vector<StringDefEntry> strings_;
  std::vector<Event> events_;
  std::vector<Request> reqs_;
  SynthSummary sum_;
  LatencyHistograms latency_;
  uint32_t z_step_ = 0, z_launch_ = 0, z_plan_ = 0, z_graph_ = 0, z_score_ = 0;
  uint32_t c_tokens_ = 0, c_slots_ = 0, c_inflight_ = 0, c_h2d_ = 0, c_hits_ = 0, c_misses_ = 0;
  uint32_t c_evictions_ = 0, c_stall_ = 0, p_threshold_ = 0, p_kmax_ = 0, p_delta_ = 0, m_slow_ = 0;
  uint32_t kmax_ = 0;
  uint32_t delta_ = 0;
  double threshold_ = 0.5;
  uint64_t slot_bytes_ = 0;
  uint32_t hot_slots_ = 0;
  uint32_t next_slot_ = 0;
  uint64_t copy_id_ = 0;
  int64_t link_free_ns_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0, h2d_bytes_ = 0, tokens_ = 0, ring_dropped_ = 0;
  uint32_t snapshot_id_ = 0;
  int64_t next_snapshot_ns_ = 0;
  int64_t next_stats_ns_ = 0;
  int64_t last_keyframe_ns_ = 0;

};

}  // namespace

absl::Status SynthOptions::Validate() const {
  auto range = [](const char* field, uint64_t v, uint64_t lo, uint64_t hi) -> absl::Status {
    if (v < lo || v > hi) {
      return absl::InvalidArgumentError(
          absl::StrFormat("trace synth: %s %d, expected [%d, %d]", field, v, lo, hi));
    }
    return absl::OkStatus();
  };
  if (out_path.empty()) return absl::InvalidArgumentError("trace synth: --out is empty, expected a file path");
  FM_RETURN_IF_ERROR(range("requests", requests, 1, 1000));
  FM_RETURN_IF_ERROR(range("pages", pages, 1, 1u << 20));
  FM_RETURN_IF_ERROR(range("layers", layers, 1, 255));
  FM_RETURN_IF_ERROR(range("steps", steps, 1, 100'000'000));
  FM_RETURN_IF_ERROR(range("tau_steps", tau_steps, 8, 256));
  FM_RETURN_IF_ERROR(range("delta_steps", delta_steps, 1, tau_steps));
  FM_RETURN_IF_ERROR(range("kmax_pages", kmax_pages, 1, 1u << 20));
  if (tpot_ns <= 0 || snapshot_period_ns < 1'000'000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "trace synth: tpot_ns %d / snapshot_period_ns %d, expected > 0 / >= 1 ms", tpot_ns,
        snapshot_period_ns));
  }
  return absl::OkStatus();
}

absl::StatusOr<SynthSummary> WriteSynthTrace(const SynthOptions& options) {
  FM_RETURN_IF_ERROR(options.Validate());
  FM_ASSIGN_OR_RETURN(std::unique_ptr<TraceFileWriter> w,
                      TraceFileWriter::Create(options.out_path, 1'767'225'600'000'000'000));
  Synth synth(options, w.get());
  FM_RETURN_IF_ERROR(synth.Run());
  FM_RETURN_IF_ERROR(w->Close());
  SynthSummary s = synth.summary();
  s.bytes = w->bytes_written();
  return s;
}

}  // namespace fm::traces
