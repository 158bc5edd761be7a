#include "profiler-ui/store/store.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/str_format.h"

namespace fm::ui {

const char* DerivedName(Derived d) {
  switch (d) {
    case Derived::kTokensPerS: return "tok/s";
    case Derived::kTpotBoundaryMs: return "TPOT boundary (ms)";
    case Derived::kTpotOtherMs: return "TPOT other (ms)";
    case Derived::kCoverage: return "coverage";
    case Derived::kLinkBytesPerS: return "link bytes/s";
    case Derived::kHotPoolOccupancy: return "hot pool occupancy";
    case Derived::kStallFraction: return "stall fraction";
    case Derived::kCount: break;
  }
  return "?";
}

Store::Store(StoreLimits limits) : limits_(limits) {}

// GCC 12 reports the moved-from temporary's optional<Hello> as maybe-uninitialized when the
// implicit move assignment is inlined here (a false positive in <optional>); it is disengaged.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
void Store::Clear() {
  const StoreLimits limits = limits_;
  const uint64_t sessions = sessions_;
  *this = Store(limits);
  sessions_ = sessions;
}
#pragma GCC diagnostic pop

absl::Status Store::IngestFrame(uint16_t kind, std::span<const uint8_t> payload) {
  auto fail = [this](absl::Status s) {
    ++decode_errors_;
    return s;
  };
  switch (static_cast<traces::FrameKind>(kind)) {
    case traces::FrameKind::kHello: {
      absl::StatusOr<traces::Hello> h = traces::DecodeHello(payload);
      if (!h.ok()) return fail(h.status());
      // A restarted runtime has a new pid or epoch: its times and ids mean nothing next to the
      // old session's, so start over. A reconnect to the same process keeps what we have.
      if (hello_ && (hello_->pid != h->pid || hello_->epoch_monotonic_ns != h->epoch_monotonic_ns)) {
        Clear();
      }
      if (!hello_) ++sessions_;
      hello_ = *std::move(h);
      return absl::OkStatus();
    }
    case traces::FrameKind::kStringDef: {
      absl::StatusOr<std::vector<traces::StringDefEntry>> defs = traces::DecodeStringDefs(payload);
      if (!defs.ok()) return fail(defs.status());
      for (traces::StringDefEntry& d : *defs) strings_[d.id] = std::move(d.text);
      return absl::OkStatus();
    }
    case traces::FrameKind::kTrackDef: {
      absl::StatusOr<std::vector<traces::TrackDefEntry>> defs = traces::DecodeTrackDefs(payload);
      if (!defs.ok()) return fail(defs.status());
      for (const traces::TrackDefEntry& d : *defs) tracks_[d.track] = d;
      return absl::OkStatus();
    }
    case traces::FrameKind::kEvents: {
      std::vector<traces::Event> events;
      absl::Status s = traces::DecodeEvents(payload, &events);
      if (!s.ok()) return fail(s);
      for (const traces::Event& e : events) IngestEvent(e);
      return absl::OkStatus();
    }
    case traces::FrameKind::kSnapshot: {
      absl::StatusOr<traces::Snapshot> snap = traces::DecodeSnapshot(payload);
      if (!snap.ok()) return fail(snap.status());
      IngestSnapshot(*snap);
      return absl::OkStatus();
    }
    case traces::FrameKind::kStats: {
      absl::StatusOr<traces::Stats> st = traces::DecodeStats(payload);
      if (!st.ok()) return fail(st.status());
      stats_ = *std::move(st);
      return absl::OkStatus();
    }
    case traces::FrameKind::kControlReply: {
      absl::StatusOr<traces::ControlReply> r = traces::DecodeControlReply(payload);
      if (!r.ok()) return fail(r.status());
      if (control_replies_.size() < 4096) control_replies_.push_back(*std::move(r));
      return absl::OkStatus();
    }
    default:
      // Bye, Scores, Labels, Index and Control carry nothing the views draw.
      return absl::OkStatus();
  }
}

void Store::NoteTime(int64_t t) {
  if (last_ns_ < first_ns_) {
    first_ns_ = last_ns_ = t;
    return;
  }
  first_ns_ = std::min(first_ns_, t);
  last_ns_ = std::max(last_ns_, t);
}

uint32_t Store::TauSteps() const { return params_ && params_->tau_steps ? params_->tau_steps : 64; }

void Store::IngestEvent(const traces::Event& e) {
  if (events_kept_ >= limits_.max_events) {
    ++store_dropped_;
    return;
  }
  ++events_kept_;
  using K = traces::EventKind;
  switch (static_cast<K>(e.kind)) {
    case K::kZone: {
      const int64_t dur = static_cast<int64_t>(std::min<uint64_t>(e.a, uint64_t{1} << 62));
      ZoneLane& lane = zones_[e.track];
      lane.track = e.track;
      lane.Push(e.t_ns, dur, e.name, e.b);
      NoteTime(e.t_ns);
      NoteTime(e.t_ns + dur);
      return;
    }
    case K::kCounter: OnCounter(e); return;
    case K::kStep: OnStep(e); return;
    case K::kRequest:
      NoteTime(e.t_ns);
      marks_.push_back(MarkRec{e.t_ns, e.name, e.a, e.b});
      return;
    case K::kSelect:
      NoteTime(e.t_ns);
      if (!selects_.empty() && e.t_ns < selects_.back().t_ns) records_unsorted_ = true;
      selects_.push_back(SelectRec{e.t_ns, static_cast<uint32_t>(e.a), traces::Lo32(e.b),
                                   static_cast<uint16_t>(e.b >> 32),
                                   static_cast<uint16_t>(e.b >> 48)});
      // Without hit/miss counters, coverage falls back to the selection's own miss count.
      if (!coverage_from_counters_ && selects_.back().selected > 0) {
        const SelectRec& s = selects_.back();
        derived_[static_cast<int>(Derived::kCoverage)].Push(
            e.t_ns, 1.0 - static_cast<double>(s.missing) / s.selected);
      }
      return;
    case K::kCopyIssue:
      NoteTime(e.t_ns);
      if (pending_copies_.size() >= limits_.max_pending_copies) {
        ++unmatched_copies_;
        return;
      }
      pending_copies_[e.a] = PendingCopy{e.t_ns, e.b};
      return;
    case K::kCopyDone: OnCopyDone(e); return;
    case K::kPage: OnPage(e); return;
    case K::kPublish: OnPublish(e); return;
    case K::kParam: {
      NoteTime(e.t_ns);
      double value;
      std::memcpy(&value, &e.a, sizeof value);
      params_applied_.push_back(ParamRec{e.t_ns, StringOf(e.name), value, static_cast<uint32_t>(e.b)});
      return;
    }
    case K::kMark:
      NoteTime(e.t_ns);
      marks_.push_back(MarkRec{e.t_ns, e.name, e.a, e.b});
      return;
    case K::kDropped:
      dropped_events_reported_ += e.a;
      return;
  }
  --events_kept_;  // an unknown kind is not kept
}

void Store::OnCounter(const traces::Event& e) {
  NoteTime(e.t_ns);
  const std::string name = StringOf(e.name);
  const double v = static_cast<double>(static_cast<int64_t>(e.a));
  counters_[name].Push(e.t_ns, v);
  if (name == "page_hits_count" || name == "page_misses_count") {
    // Cumulative counters: coverage is the hit share of the picks between two complete samples
    // (a hits and a misses sample each). Counter-based coverage replaces the Select fallback.
    if (!coverage_from_counters_) {
      coverage_from_counters_ = true;
      derived_[static_cast<int>(Derived::kCoverage)] = Series{};
    }
    const bool hits = name == "page_hits_count";
    (hits ? hits_cur_ : misses_cur_) = v;
    (hits ? hits_new_ : misses_new_) = true;
    if (hits_new_ && misses_new_) {
      if (hits_base_ >= 0 && misses_base_ >= 0) {
        const double dh = hits_cur_ - hits_base_, dm = misses_cur_ - misses_base_;
        if (dh >= 0 && dm >= 0 && dh + dm > 0) {
          derived_[static_cast<int>(Derived::kCoverage)].Push(e.t_ns, dh / (dh + dm));
        }
      }
      hits_base_ = hits_cur_;
      misses_base_ = misses_cur_;
      hits_new_ = misses_new_ = false;
    }
  } else if (name == "hot_slots_used_count" && hello_ && hello_->hot_slots_total > 0) {
    // The counter is sampled far more often than Pools snapshots: once seen, it is the source.
    if (!occupancy_from_counter_) {
      occupancy_from_counter_ = true;
      derived_[static_cast<int>(Derived::kHotPoolOccupancy)] = Series{};
    }
    derived_[static_cast<int>(Derived::kHotPoolOccupancy)].Push(
        e.t_ns, v / static_cast<double>(hello_->hot_slots_total));
  }
}

void Store::OnStep(const traces::Event& e) {
  NoteTime(e.t_ns);
  uint32_t phase = requests_.empty() ? 0 : requests_.front().phase;
  const uint32_t tau = TauSteps();
  const bool boundary = ((e.a + tau - phase % tau) % tau) == 0;
  StepRec rec{e.t_ns, e.a, traces::Lo32(e.b), traces::Hi32(e.b), boundary};
  if (!steps_.empty() && steps_.back().t_ns < e.t_ns) {
    const int64_t dt = e.t_ns - steps_.back().t_ns;
    const double dt_s = static_cast<double>(dt) * 1e-9;
    derived_[static_cast<int>(Derived::kTokensPerS)].Push(e.t_ns, rec.tokens / dt_s);
    derived_[static_cast<int>(boundary ? Derived::kTpotBoundaryMs : Derived::kTpotOtherMs)].Push(
        e.t_ns, static_cast<double>(dt) * 1e-6);
  }
  if (!steps_.empty() && e.t_ns < steps_.back().t_ns) records_unsorted_ = true;
  steps_.push_back(rec);
}

void Store::FlushLinkBin(int64_t up_to_bin) {
  if (link_bin_ < 0) return;
  Series& s = derived_[static_cast<int>(Derived::kLinkBytesPerS)];
  const double per_s = 1e9 / static_cast<double>(kLinkBinNs);
  s.Push(link_bin_ * kLinkBinNs, static_cast<double>(link_bin_bytes_) * per_s);
  // Idle bins are real zeros on the plot; cap the fill so a time jump cannot allocate unboundedly.
  for (int64_t b = link_bin_ + 1; b < up_to_bin && b < link_bin_ + 1000; ++b) s.Push(b * kLinkBinNs, 0);
  link_bin_bytes_ = 0;
}

void Store::OnCopyDone(const traces::Event& e) {
  const int64_t dur = static_cast<int64_t>(std::min<uint64_t>(e.b, uint64_t{1} << 62));
  NoteTime(e.t_ns);
  NoteTime(e.t_ns + dur);
  auto it = pending_copies_.find(e.a);
  if (it == pending_copies_.end()) {
    ++unmatched_copies_;
    return;
  }
  const PendingCopy issue = it->second;
  pending_copies_.erase(it);
  CopyLane& lane = copies_[e.track];
  lane.track = e.track;
  lane.Push(issue.issue_ns, e.t_ns, dur, issue.bytes);
  const int64_t bin = e.t_ns / kLinkBinNs;
  if (bin != link_bin_) {
    if (bin > link_bin_) FlushLinkBin(bin);
    link_bin_ = std::max(link_bin_, bin);
  }
  link_bin_bytes_ += issue.bytes;
}

void Store::OnPage(const traces::Event& e) {
  NoteTime(e.t_ns);
  const uint32_t page = traces::Hi32(e.a);
  if (page >= limits_.max_pages) {
    ++store_dropped_;
    return;
  }
  PageEvents& pe = page_events_[traces::Lo32(e.a)];
  if (!pe.t_ns.empty() && e.t_ns < pe.t_ns.back()) pe.sorted = false;
  pe.t_ns.push_back(e.t_ns);
  pe.page.push_back(page);
  pe.state.push_back(static_cast<uint8_t>(traces::PageStateOf(e.b)));
  pe.mask.push_back(traces::Hi32(e.b));
}

void Store::OnPublish(const traces::Event& e) {
  NoteTime(e.t_ns);
  const uint32_t req = static_cast<uint32_t>(e.a);
  const PublishRec rec{e.t_ns, req, traces::Lo32(e.b), traces::Hi32(e.b)};
  if (!publishes_.empty() && e.t_ns < publishes_.back().t_ns) records_unsorted_ = true;
  publishes_.push_back(rec);
  auto [it, inserted] = last_publish_ns_.try_emplace(req, e.t_ns);
  if (!inserted && e.t_ns > it->second) {
    derived_[static_cast<int>(Derived::kStallFraction)].Push(
        e.t_ns, static_cast<double>(rec.stall_ns) / static_cast<double>(e.t_ns - it->second));
  }
  it->second = e.t_ns;
}

void Store::IngestSnapshot(const traces::Snapshot& s) {
  NoteTime(s.t_ns);
  if (s.pools) {
    pools_ = s.pools;
    if (s.pools->slots_total > 0 && !occupancy_from_counter_) {
      derived_[static_cast<int>(Derived::kHotPoolOccupancy)].Push(
          s.t_ns, static_cast<double>(s.pools->slots_used) / s.pools->slots_total);
    }
  }
  if (s.params) params_ = s.params;
  if (s.requests) requests_ = *s.requests;
  if (s.latency) latency_ = s.latency;
  if (s.residency.empty()) return;
  if (keyframes_.empty() || keyframes_.back().snapshot_id != s.snapshot_id ||
      keyframes_.back().t_ns != s.t_ns) {
    if (keyframes_.size() >= limits_.max_keyframes) {
      // Thin to every other keyframe: old history gets coarser, memory stays bounded.
      std::vector<Keyframe> kept;
      for (size_t i = 0; i < keyframes_.size(); i += 2) kept.push_back(std::move(keyframes_[i]));
      keyframes_.swap(kept);
    }
    keyframes_.push_back(Keyframe{s.snapshot_id, s.t_ns, {}});
  }
  for (const traces::ResidencyEntry& r : s.residency) {
    if (r.page_states.size() > limits_.max_pages) {
      ++store_dropped_;
      continue;
    }
    keyframes_.back().residency.push_back(r);
  }
}

void Store::Commit() {
  for (auto& [track, lane] : zones_) lane.Sort();
  for (auto& [track, lane] : copies_) lane.Sort();
  // Called every frame in live mode: only out-of-order data pays for a sort.
  if (records_unsorted_) {
    auto by_time = [](const auto& a, const auto& b) { return a.t_ns < b.t_ns; };
    std::stable_sort(steps_.begin(), steps_.end(), by_time);
    std::stable_sort(selects_.begin(), selects_.end(), by_time);
    std::stable_sort(publishes_.begin(), publishes_.end(), by_time);
    records_unsorted_ = false;
  }
  for (auto& [name, s] : counters_) s.Sort();
  for (Series& s : derived_) s.Sort();
  for (auto& [req, pe] : page_events_) {
    if (pe.sorted) continue;
    std::vector<size_t> idx(pe.t_ns.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return pe.t_ns[a] < pe.t_ns[b]; });
    PageEvents out;
    for (size_t i : idx) {
      out.t_ns.push_back(pe.t_ns[i]);
      out.page.push_back(pe.page[i]);
      out.state.push_back(pe.state[i]);
      out.mask.push_back(pe.mask[i]);
    }
    pe = std::move(out);
    pe.sorted = true;
  }
}

std::string Store::StringOf(uint32_t id) const {
  if (id == 0) return {};
  auto it = strings_.find(id);
  return it == strings_.end() ? absl::StrFormat("#%u", id) : it->second;
}

std::string Store::TrackName(uint16_t track) const {
  auto it = tracks_.find(track);
  if (it == tracks_.end()) return absl::StrFormat("track %u", track);
  std::string n = StringOf(it->second.name);
  return n.empty() ? absl::StrFormat("track %u", track) : n;
}

int Store::csa_layers() const {
  if (hello_ && hello_->csa_layers > 0) return std::min<int>(hello_->csa_layers, 32);
  for (const Keyframe& k : keyframes_) {
    for (const traces::ResidencyEntry& r : k.residency) {
      if (r.l2_layers > 0) return std::min<int>(r.l2_layers, 32);
    }
  }
  return 21;
}

uint64_t Store::tokens_per_page() const {
  if (hello_ && hello_->chunk_tokens > 0 && hello_->page_chunks > 0) {
    return uint64_t{hello_->chunk_tokens} * hello_->page_chunks;
  }
  return 256;
}

std::vector<uint32_t> Store::request_ids() const {
  std::vector<uint32_t> ids;
  for (const auto& [req, pe] : page_events_) ids.push_back(req);
  for (const Keyframe& k : keyframes_) {
    for (const traces::ResidencyEntry& r : k.residency) ids.push_back(r.request_id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

uint64_t Store::runtime_dropped_events() const {
  uint64_t ring_drops = 0;
  if (stats_) {
    for (const traces::RingStats& r : stats_->rings) ring_drops += r.dropped;
  }
  // Dropped events report increments; Stats report totals. Both describe the same losses, so the
  // larger one is the best lower bound on what the runtime lost.
  return std::max(dropped_events_reported_, ring_drops);
}

}  // namespace fm::ui
