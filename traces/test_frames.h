#pragma once
// Test helpers shared by the traces tests: sample payloads of every frame kind, and a
// deterministic PRNG for mutation corpora (seeds are printed with SCOPED_TRACE).

#include <cstdint>
#include <vector>

#include "traces/control.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/wire_schema.h"

namespace fm::traces::testing {

class TestRng {
 public:
  explicit TestRng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }

 private:
  uint64_t s_;
};

// One event of every kind, with fields packed as the schema says.
inline std::vector<Event> OneEventOfEveryKind() {
  return {
      Event{1, 0, 3, 7, 1000, 2500, 42},
      Event{2, 0, 3, 8, 1100, static_cast<uint64_t>(-5), 0},
      Event{3, kGpuTime, 4, 0, 1200, 77, PackLoHi(3, 3)},
      Event{4, 0, 5, 0, 1300, 9, PackRequestB(RequestState::kPrefilled, 2)},
      Event{5, 0, 5, 0, 1400, 9, PackSelect(12, 384, 40)},
      Event{6, 0, 6, 0, 1500, 1001, 784896},
      Event{7, kGpuTime, 6, 0, 1600, 1001, 16000},
      Event{8, 0, 5, 0, 1700, PackLoHi(9, 4095), PackPageB(PageState::kFetching, 77, 0x1FFFFF)},
      Event{9, kGpuTime, 5, 0, 1800, 9, PackLoHi(13, 250)},
      Event{10, 0, 2, 9, 1900, 0x3FE0000000000000ull, kAllRequests},
      Event{11, 0, 2, 10, 2000, 1, 2},
      Event{12, 0, 2, 0, 2100, 17, 3},
  };
}

inline Hello SampleHello() {
  Hello h;
  h.pid = 1234;
  h.program = "flashmem run";
  h.host = "h100-box";
  h.epoch_monotonic_ns = 987654321;
  h.epoch_realtime_ns = 1700000000000000000;
  h.device_name = "NVIDIA H100";
  h.device_uuid = "GPU-abc";
  h.copy_engines = 2;
  h.layers = 43;
  h.csa_layers = 21;
  h.chunk_tokens = 4;
  h.page_chunks = 64;
  h.slot_bytes = 784896;
  h.hot_slots_total = 965;
  h.cold_pool_bytes = 3ull << 30;
  h.capabilities = kCapControl | kCapGpuTime;
  return h;
}

inline Snapshot SampleSnapshot(uint32_t pages) {
  Snapshot s;
  s.snapshot_id = 5;
  s.t_ns = 123456789;
  s.pools = PoolsSection{784896, 965, 700, 12, 2, 1ull << 30, 3ull << 30};
  s.params = ParamsSection{64, 8, 0.5, 384, 1024, 4, 1, 0};
  s.requests = std::vector<RequestRow>{{1, 0, 1 << 20, 4096, 0, 7}, {2, 1, 65536, 256, 32, 3}};
  for (uint32_t r = 1; r <= 2; ++r) {
    ResidencyEntry e;
    e.request_id = r;
    e.page_states.resize(pages);
    for (uint32_t p = 0; p < pages; ++p) e.page_states[p] = static_cast<uint8_t>((p * r) % 5);
    e.l2_layers = r == 1 ? 21 : 0;
    e.l2_use.assign(uint64_t{pages} * e.l2_layers, 3);
    s.residency.push_back(e);
  }
  LatencyHistograms h;
  h.Add(&h.fetch_ns, 20000);
  h.Add(&h.fetch_ns, 20500);
  h.Add(&h.copy_ns, 15000);
  s.latency = h;
  return s;
}

// A stream of frames of mixed kinds and sizes (each encoded with seq = its index).
inline std::vector<EncodedFrame> SampleStream() {
  std::vector<EncodedFrame> out;
  auto add = [&](FrameKind k, const std::vector<uint8_t>& p) {
    out.push_back(EncodeFrame(k, p, static_cast<uint32_t>(out.size())));
  };
  add(FrameKind::kHello, EncodeHello(SampleHello()));
  add(FrameKind::kStringDef, EncodeStringDefs(std::vector<StringDefEntry>{{1, "sched.plan"}, {2, "h2d_bytes"}})[0]);
  add(FrameKind::kTrackDef, EncodeTrackDefs(std::vector<TrackDefEntry>{{1, TrackType::kThread, 1}})[0]);
  for (int i = 0; i < 6; ++i) {
    std::vector<Event> ev = OneEventOfEveryKind();
    for (auto& e : ev) e.t_ns += i * 10000;
    ev.resize(static_cast<size_t>(1 + i * 2));
    add(FrameKind::kEvents, EncodeEvents(ev));
  }
  add(FrameKind::kSnapshot, EncodeSnapshot(SampleSnapshot(64))[0]);
  add(FrameKind::kBye, EncodeBye("done"));
  return out;
}

inline std::vector<uint8_t> Concat(const std::vector<EncodedFrame>& frames) {
  std::vector<uint8_t> out;
  for (const auto& f : frames) out.insert(out.end(), f.bytes.begin(), f.bytes.end());
  return out;
}

}  // namespace fm::traces::testing
