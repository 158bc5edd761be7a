#include "profiler-ui/tests/synth_fixture.h"

#include <algorithm>
#include <cstring>

#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/trace_file_writer.h"

namespace fm::ui::testing {
namespace {

using traces::Event;
using traces::EventKind;
using traces::FrameKind;

enum StringId : uint32_t {
  kStrDecodeStep = 1, kStrPlan, kStrCopy, kStrHotSlots, kStrHits, kStrMisses, kStrThreadDecode,
  kStrComputeStream, kStrCopyStream, kStrTau, kStrRequest7, kStrMark,
};
enum Track : uint16_t { kTrackThread = 1, kTrackCompute = 2, kTrackCopy = 3 };

Event Ev(EventKind k, uint16_t track, uint32_t name, int64_t t, uint64_t a, uint64_t b) {
  Event e{};
  e.kind = static_cast<uint8_t>(k);
  e.track = track;
  e.name = name;
  e.t_ns = t;
  e.a = a;
  e.b = b;
  return e;
}

uint64_t PageA(uint32_t request, uint32_t page) { return traces::PackLoHi(request, page); }

class Emitter {
 public:
  explicit Emitter(std::vector<FixtureFrame>* out) : out_(out) {}
  void Add(const Event& e) {
    events_.push_back(e);
    if (events_.size() == traces::kEventsPerFrame) Flush();
  }
  void Flush() {
    if (events_.empty()) return;
    out_->push_back({FrameKind::kEvents, traces::EncodeEvents(events_)});
    events_.clear();
  }

 private:
  std::vector<FixtureFrame>* out_;
  std::vector<Event> events_;
};

}  // namespace

Band BandOfPage(const FixtureConfig& cfg, uint32_t page) {
  const uint64_t p8 = uint64_t{page} * 8;
  if (p8 < cfg.pages * 2ull) return Band::kSelected;
  if (p8 < cfg.pages * 4ull) return Band::kHot;
  if (p8 < cfg.pages * 5ull) return Band::kInFlight;
  if (p8 < cfg.pages * 6ull) return Band::kJustEvicted;
  return Band::kCold;
}

int64_t FixtureEndNs(const FixtureConfig& cfg) {
  return static_cast<int64_t>(cfg.steps) * cfg.step_ns + cfg.step_ns / 2;
}

std::vector<FixtureFrame> MakeFixtureFrames(const FixtureConfig& cfg) {
  std::vector<FixtureFrame> out;
  traces::Hello hello;
  hello.pid = 4242;
  hello.program = "flashmem";
  hello.host = "fixture";
  hello.epoch_monotonic_ns = 1'000'000'000;
  hello.epoch_realtime_ns = 1'700'000'000'000'000'000;
  hello.device_name = "synthetic";
  hello.copy_engines = 1;
  hello.layers = 43;
  hello.csa_layers = static_cast<uint16_t>(cfg.csa_layers);
  hello.chunk_tokens = 4;
  hello.page_chunks = 64;
  hello.slot_bytes = 64 * 656;
  hello.hot_slots_total = 2048;
  hello.capabilities = traces::kCapControl | traces::kCapGpuTime;
  out.push_back({FrameKind::kHello, traces::EncodeHello(hello)});

  const std::vector<traces::StringDefEntry> strings = {
      {kStrDecodeStep, "decode.step"}, {kStrPlan, "sched.plan"}, {kStrCopy, "copy.h2d"},
      {kStrHotSlots, "hot_slots_used_count"}, {kStrHits, "page_hits_count"},
      {kStrMisses, "page_misses_count"}, {kStrThreadDecode, "decode thread"},
      {kStrComputeStream, "compute stream"}, {kStrCopyStream, "copy engine 0"}, {kStrTau, "tau"},
      {kStrRequest7, "request"}, {kStrMark, "fixture end"}};
  for (auto& p : traces::EncodeStringDefs(strings)) out.push_back({FrameKind::kStringDef, p});
  const std::vector<traces::TrackDefEntry> tracks = {
      {kTrackThread, traces::TrackType::kThread, kStrThreadDecode},
      {kTrackCompute, traces::TrackType::kStream, kStrComputeStream},
      {kTrackCopy, traces::TrackType::kStream, kStrCopyStream}};
  for (auto& p : traces::EncodeTrackDefs(tracks)) out.push_back({FrameKind::kTrackDef, p});

  // Keyframe at t=0: the first half and the just-evicted band start hot.
  traces::Snapshot snap;
  snap.snapshot_id = 1;
  snap.t_ns = 0;
  snap.pools = traces::PoolsSection{hello.slot_bytes, 2048, 0, 0, 0, 0, uint64_t{1} << 34};
  snap.params = traces::ParamsSection{cfg.tau_steps, 4, 0.5, 384, 1024, 8, 1, 0};
  snap.requests = std::vector<traces::RequestRow>{
      {cfg.request_id, 0, uint64_t{cfg.pages} * 256, cfg.pages, 0, 0},
      {cfg.small_request_id, 1, 64 * 256, 64, 0, 0}};
  traces::ResidencyEntry main;
  main.request_id = cfg.request_id;
  main.l2_layers = static_cast<uint8_t>(cfg.csa_layers);
  main.page_states.resize(cfg.pages);
  main.l2_use.resize(static_cast<size_t>(cfg.pages) * cfg.csa_layers);
  for (uint32_t p = 0; p < cfg.pages; ++p) {
    const Band b = BandOfPage(cfg, p);
    const bool hot = b == Band::kSelected || b == Band::kHot || b == Band::kJustEvicted;
    main.page_states[p] = static_cast<uint8_t>(hot ? traces::PageState::kHot : traces::PageState::kCold);
    for (int l = 0; l < cfg.csa_layers; ++l) {
      main.l2_use[static_cast<size_t>(p) * cfg.csa_layers + l] =
          b == Band::kSelected ? static_cast<uint8_t>(4 + (p + l) % 13) : 0;
    }
  }
  traces::ResidencyEntry small;
  small.request_id = cfg.small_request_id;
  small.page_states.assign(64, static_cast<uint8_t>(traces::PageState::kHot));
  snap.residency = {main, small};
  traces::LatencyHistograms lat;
  snap.latency = lat;
  for (auto& p : traces::EncodeSnapshot(snap)) out.push_back({FrameKind::kSnapshot, p});

  Emitter em(&out);
  uint64_t copy_id = 1, hits = 0, misses = 0;
  // Pages cycling through the cold band during the run: fetched, used, evicted again.
  const uint32_t churn_begin = cfg.pages * 3 / 4;
  const uint32_t churn_pages = std::max<uint32_t>(cfg.pages - churn_begin, 1);
  for (uint32_t s = 0; s < cfg.steps; ++s) {
    const int64_t t = static_cast<int64_t>(s) * cfg.step_ns;
    const bool boundary = s % cfg.tau_steps == 0;
    // Boundary steps are slower: the selection runs and copies compete with compute.
    const int64_t compute_ns = cfg.step_ns * (boundary ? 9 : 7) / 10;
    em.Add(Ev(EventKind::kZone, kTrackThread, kStrPlan, t, static_cast<uint64_t>(cfg.step_ns / 10), s));
    em.Add(Ev(EventKind::kZone, kTrackCompute, kStrDecodeStep, t + cfg.step_ns / 20,
              static_cast<uint64_t>(compute_ns), s));
    em.Add(Ev(EventKind::kStep, kTrackCompute, 0, t + cfg.step_ns / 20 + compute_ns, s,
              traces::PackLoHi(1, 1)));
    if (boundary) {
      const uint32_t cycle = s / cfg.tau_steps;
      em.Add(Ev(EventKind::kSelect, kTrackThread, 0, t + 1000, cfg.request_id,
                traces::PackSelect(cycle, 384, static_cast<uint16_t>(cfg.copies_per_cycle))));
      // The churn stops well before the end so the final bands are not disturbed.
      const bool churn = t + cfg.step_ns * (cfg.tau_steps + 16) < FixtureEndNs(cfg);
      for (uint32_t i = 0; i < cfg.copies_per_cycle; ++i) {
        const uint32_t page = churn_begin + (cycle * cfg.copies_per_cycle + i) % churn_pages;
        const int64_t issue = t + 2000 + i * 3000;
        // Latencies spread over two decades (deterministic), bytes 1..4 pages.
        const uint64_t bytes = uint64_t{hello.slot_bytes} * (1 + i % 4);
        const int64_t start = issue + 20'000 + static_cast<int64_t>((i * 7919u + cycle * 104729u) % 400) * 1000;
        const int64_t dur = static_cast<int64_t>(bytes / 25);  // ~25 GB/s
        em.Add(Ev(EventKind::kCopyIssue, kTrackThread, kStrCopy, issue, copy_id, bytes));
        em.Add(Ev(EventKind::kCopyDone, kTrackCopy, kStrCopy, start, copy_id, static_cast<uint64_t>(dur)));
        ++copy_id;
        if (!churn) continue;
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, issue, PageA(cfg.request_id, page),
                  traces::PackPageB(traces::PageState::kFetching, i, 0)));
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, start + dur, PageA(cfg.request_id, page),
                  traces::PackPageB(traces::PageState::kHot, i, 1u << (i % 21))));
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, t + cfg.step_ns * cfg.tau_steps - cfg.step_ns,
                  PageA(cfg.request_id, page), traces::PackPageB(traces::PageState::kCold, 0, 0)));
      }
      em.Add(Ev(EventKind::kPublish, kTrackCompute, 0, t + cfg.step_ns * 4, cfg.request_id,
                traces::PackLoHi(cycle, cycle % 3 == 0 ? 1'500'000u : 0u)));
    }
    hits += 380 - (s % 5);
    misses += s % 5;
    em.Add(Ev(EventKind::kCounter, kTrackThread, kStrHotSlots, t, 1024 + (s * 37) % 512, 0));
    em.Add(Ev(EventKind::kCounter, kTrackThread, kStrHits, t, hits, 0));
    em.Add(Ev(EventKind::kCounter, kTrackThread, kStrMisses, t, misses, 0));
  }
  // The final cycle lays the bands down: a Select, then picks, fetches and evictions after it.
  const int64_t end = FixtureEndNs(cfg);
  const int64_t sel_t = end - 100'000'000;
  em.Add(Ev(EventKind::kSelect, kTrackThread, 0, sel_t, cfg.request_id,
            traces::PackSelect(cfg.steps / cfg.tau_steps, 384, 64)));
  const uint32_t all_layers = cfg.csa_layers >= 32 ? 0xFFFFFFFFu : (1u << cfg.csa_layers) - 1;
  for (uint32_t p = 0; p < cfg.pages; ++p) {
    const uint64_t a = PageA(cfg.request_id, p);
    switch (BandOfPage(cfg, p)) {
      case Band::kSelected:
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, sel_t + 1000, a,
                  traces::PackPageB(traces::PageState::kHot, p, all_layers)));
        break;
      case Band::kInFlight:
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, sel_t + 2000, a,
                  traces::PackPageB(traces::PageState::kFetching, p, 0)));
        break;
      case Band::kJustEvicted:
        em.Add(Ev(EventKind::kPage, kTrackThread, 0, sel_t + 3000, a,
                  traces::PackPageB(traces::PageState::kCold, 0, 0)));
        break;
      case Band::kHot:
      case Band::kCold:
        break;
    }
  }
  double tau = 32;
  uint64_t tau_bits;
  std::memcpy(&tau_bits, &tau, sizeof tau);
  em.Add(Ev(EventKind::kParam, kTrackThread, kStrTau, end - 50'000'000, tau_bits, traces::kAllRequests));
  em.Add(Ev(EventKind::kMark, kTrackThread, kStrMark, end, 0, 0));
  em.Flush();

  traces::Stats stats;
  stats.rings.push_back(traces::RingStats{1, 100000, 3, 512});
  out.push_back({FrameKind::kStats, traces::EncodeStats(stats)});
  return out;
}

absl::Status WriteFixtureFile(const FixtureConfig& cfg, const std::string& path) {
  absl::StatusOr<std::unique_ptr<traces::TraceFileWriter>> w =
      traces::TraceFileWriter::Create(path, 1'700'000'000'000'000'000);
  if (!w.ok()) return w.status();
  for (const FixtureFrame& f : MakeFixtureFrames(cfg)) {
    if (absl::Status s = (*w)->WriteFrame(f.kind, f.payload); !s.ok()) return s;
  }
  return (*w)->Close();
}

}  // namespace fm::ui::testing
