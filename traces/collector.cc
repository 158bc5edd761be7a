#include "traces/collector.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "common/little_endian.h"
#include "traces/emit.h"

namespace fm::traces {
namespace {

std::atomic<Collector*> g_active{nullptr};

// Keeps the snapshot queue bounded when the runtime posts faster than the drain consumes.
constexpr size_t kMaxPendingSnapshots = 4;
constexpr size_t kMaxPendingFrames = 1024;

}  // namespace

Collector::Collector(CollectorOptions options, Registry& registry)
    : options_(std::move(options)), registry_(registry), events_(kEventsPerFrame) {
  options_.hello.pid = static_cast<uint32_t>(::getpid());
  options_.hello.epoch_monotonic_ns = registry_.epoch_monotonic_ns();
  options_.hello.epoch_realtime_ns = registry_.epoch_realtime_ns();
  options_.hello.protocol_version = kWireVersion;
}

Collector::~Collector() { Stop(); }

void Collector::AddSink(std::shared_ptr<Sink> sink) {
  MutexLock lock(&mu_);
  pending_sinks_.push_back(sink);
  stat_sinks_.push_back(std::move(sink));
  wake_ = true;
}

absl::Status Collector::StartManual() {
  Collector* expected = nullptr;
  if (!g_active.compare_exchange_strong(expected, this)) {
    return absl::FailedPreconditionError(
        "telemetry Collector: another Collector is already running (one drain per process)");
  }
  // Records left from an earlier session are delivered; drops before now are not re-reported.
  for (size_t i = 0; i < registry_.ring_count(); ++i) last_dropped_[i] = registry_.ring(i)->dropped();
  last_unregistered_ = registry_.unregistered_dropped();
  running_ = true;
  manual_ = true;
  internal::g_categories.store(internal::kAllEventCategories, std::memory_order_relaxed);
  internal::g_enabled.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Collector::Start() {
  if (absl::Status st = StartManual(); !st.ok()) return st;
  manual_ = false;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Collector::Run() {
  Registry::Global().SetThreadName("telemetry.drain");
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stop_) break;
    }
    DrainOnce();
  }
}

void Collector::Stop() {
  if (!running_) return;
  if (thread_.joinable()) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
      wake_ = true;
    }
    thread_.join();
  }
  internal::g_enabled.store(false, std::memory_order_release);
  DrainOnce();  // what producers pushed before they saw the flag go down
  for (auto& s : sinks_) s->End();
  sinks_.clear();
  running_ = false;
  g_active.store(nullptr);
}

void Collector::Flush() {
  if (!running_) return;
  if (manual_ || !thread_.joinable()) {
    DrainOnce();
    return;
  }
  MutexLock lock(&mu_);
  // The iteration in progress may have passed some rings already; the one after it starts after
  // this call, so it sees every record emitted before it.
  const uint64_t target = iterations_ + 2;
  wake_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return iterations_ >= target || stop_;
  };
  mu_.Await(done);
}

void Collector::PostSnapshot(const Snapshot& s) {
  std::vector<EncodedFrame> frames;
  for (const auto& payload : EncodeSnapshot(s)) frames.push_back(EncodeFrame(FrameKind::kSnapshot, payload));
  MutexLock lock(&mu_);
  if (pending_snapshots_.size() >= kMaxPendingSnapshots) {
    pending_snapshots_.erase(pending_snapshots_.begin());
  }
  pending_snapshots_.push_back(std::move(frames));
}

void Collector::PostFrame(FrameKind kind, std::span<const uint8_t> payload) {
  if (payload.size() > kMaxPayloadBytes) return;  // encoders split below the bound; refuse, never abort
  EncodedFrame f = EncodeFrame(kind, payload);
  MutexLock lock(&mu_);
  if (pending_frames_.size() >= kMaxPendingFrames) return;
  pending_frames_.push_back(std::move(f));
}

std::vector<EncodedFrame> Collector::BuildPreamble() {
  std::vector<EncodedFrame> out;
  out.push_back(EncodeFrame(FrameKind::kHello, EncodeHello(options_.hello)));
  if (!all_strings_.empty()) {
    for (const auto& p : EncodeStringDefs(all_strings_)) out.push_back(EncodeFrame(FrameKind::kStringDef, p));
  }
  if (!all_tracks_.empty()) {
    for (const auto& p : EncodeTrackDefs(all_tracks_)) out.push_back(EncodeFrame(FrameKind::kTrackDef, p));
  }
  for (const EncodedFrame& f : latest_snapshot_) out.push_back(f);
  return out;
}

void Collector::DeliverAll(const EncodedFrame& f) {
  for (auto& s : sinks_) s->Deliver(f);
}

void Collector::SyncDefinitions() {
  std::vector<StringDefEntry> strings;
  std::vector<TrackDefEntry> tracks;
  string_cursor_ = registry_.CopyStringsSince(string_cursor_, &strings);
  track_cursor_ = registry_.CopyTracksSince(track_cursor_, &tracks);
  if (!strings.empty()) {
    for (const auto& p : EncodeStringDefs(strings)) DeliverAll(EncodeFrame(FrameKind::kStringDef, p));
    all_strings_.insert(all_strings_.end(), strings.begin(), strings.end());
  }
  if (!tracks.empty()) {
    for (const auto& p : EncodeTrackDefs(tracks)) DeliverAll(EncodeFrame(FrameKind::kTrackDef, p));
    all_tracks_.insert(all_tracks_.end(), tracks.begin(), tracks.end());
  }
}

void Collector::FlushEvents() {
  if (event_count_ == 0) return;
  // Definitions first: every id an event refers to was interned before the event was emitted,
  // hence before this drain read it.
  SyncDefinitions();
  EncodeEventsFrame(std::span<const Event>(events_.data(), event_count_), &events_frame_);
  DeliverAll(events_frame_);
  uint64_t delivered = 0;
  for (size_t i = 0; i < event_count_; ++i) {
    delivered += events_[i].kind != static_cast<uint8_t>(EventKind::kDropped);
  }
  records_delivered_.fetch_add(delivered, std::memory_order_acq_rel);
  event_count_ = 0;
}

void Collector::AppendEvent(const Event& e) {
  if (event_count_ == events_.size()) FlushEvents();
  events_[event_count_++] = e;
}

void Collector::EmitDropped(uint64_t lost, uint32_t ring_id, uint16_t track) {
  AppendEvent(Event{static_cast<uint8_t>(EventKind::kDropped), 0, track, 0, NowNs(), lost, ring_id});
  drops_reported_.fetch_add(lost, std::memory_order_acq_rel);
}

size_t Collector::DrainOnce() {
  std::vector<std::shared_ptr<Sink>> new_sinks;
  std::vector<std::vector<EncodedFrame>> snapshots;
  std::vector<EncodedFrame> frames;
  {
    MutexLock lock(&mu_);
    new_sinks.swap(pending_sinks_);
    snapshots.swap(pending_snapshots_);
    frames.swap(pending_frames_);
    wake_ = false;
  }
  if (!new_sinks.empty()) {
    SyncDefinitions();  // existing sinks get the new definitions; new ones get them in the preamble
    std::vector<EncodedFrame> preamble = BuildPreamble();
    for (auto& s : new_sinks) {
      s->Begin(preamble);
      sinks_.push_back(std::move(s));
    }
  }

  size_t drained = 0;
  const size_t rings = registry_.ring_count();
  for (size_t i = 0; i < rings; ++i) {
    EventRing* ring = registry_.ring(i);
    uint64_t occupancy = ring->occupancy();
    high_water_[i] = std::max<uint32_t>(high_water_[i], static_cast<uint32_t>(occupancy));
    // Bounded per iteration (one ring's worth) so a busy producer cannot starve the others.
    size_t budget = ring->capacity();
    while (budget > 0) {
      if (event_count_ == events_.size()) FlushEvents();
      size_t n = ring->PopInto(events_.data() + event_count_,
                               std::min(budget, events_.size() - event_count_));
      if (n == 0) break;
      event_count_ += n;
      drained += n;
      budget -= n;
    }
    uint64_t dropped = ring->dropped();
    if (dropped != last_dropped_[i]) {
      // On the dropping thread's track, so the UI can say whose records were lost.
      EmitDropped(dropped - last_dropped_[i], ring->ring_id(),
                  ring->track.load(std::memory_order_acquire));
      last_dropped_[i] = dropped;
    }
  }
  uint64_t unregistered = registry_.unregistered_dropped();
  if (unregistered != last_unregistered_) {
    EmitDropped(unregistered - last_unregistered_, 0xFFFFFFFFu, 0);  // threads without a ring
    last_unregistered_ = unregistered;
  }
  FlushEvents();
  SyncDefinitions();  // names defined without events yet (tracks of idle threads) still go out

  for (auto& parts : snapshots) {
    for (const EncodedFrame& f : parts) DeliverAll(f);
    latest_snapshot_ = std::move(parts);
  }
  for (const EncodedFrame& f : frames) DeliverAll(f);

  const int64_t now = NowNs();
  if (now >= next_stats_ns_ && !sinks_.empty()) {
    next_stats_ns_ = now + options_.stats_period_ns;
    Stats s = stats();
    DeliverAll(EncodeFrame(FrameKind::kStats, EncodeStats(s)));
  }
  {
    std::vector<RingStats> rs;
    for (size_t i = 0; i < rings; ++i) {
      EventRing* ring = registry_.ring(i);
      rs.push_back(RingStats{ring->ring_id(), ring->produced(), ring->dropped(), high_water_[i]});
    }
    MutexLock lock(&mu_);
    ring_stats_ = std::move(rs);
  }

  bool waited = false;
  const bool idle = drained == 0 && snapshots.empty() && frames.empty() && !manual_;
  for (auto& s : sinks_) waited |= s->Poll(*this, (idle && !waited) ? options_.idle_wait_ms : 0);

  MutexLock lock(&mu_);
  ++iterations_;
  if (idle && !waited && !stop_) {
    mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; },
                        std::chrono::milliseconds(options_.idle_wait_ms));
  }
  return drained;
}

Stats Collector::stats() const {
  Stats s;
  MutexLock lock(&mu_);
  s.rings = ring_stats_;
  for (const auto& sink : stat_sinks_) s.sinks.push_back(sink->stats());
  return s;
}

}  // namespace fm::traces
