// The recorder: rings, registry, zones and the collector. The stress test checks the accounting
// identity emitted == recorded + dropped exactly, across threads, with a ring small enough to
// overflow.

#include <atomic>
#include <bit>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "traces/collector.h"
#include "traces/emit.h"
#include "traces/event_ring.h"
#include "traces/memory_sink.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/test_frames.h"
#include "traces/trace_file_reader.h"
#include "traces/trace_file_writer.h"
#include "traces/zone.h"

namespace fm::traces {
namespace {

struct Decoded {
  std::vector<Event> events;
  absl::flat_hash_map<uint32_t, std::string> strings;
  absl::flat_hash_map<uint16_t, TrackDefEntry> tracks;
  std::vector<Snapshot> snapshots;
  std::vector<uint16_t> kinds;
  bool names_defined_before_use = true;
};

Decoded DecodeFrames(const std::vector<EncodedFrame>& frames) {
  Decoded d;
  for (const EncodedFrame& f : frames) {
    std::span<const uint8_t> payload(f.bytes.data() + kFrameHeaderBytes,
                                     f.bytes.size() - kFrameHeaderBytes);
    d.kinds.push_back(static_cast<uint16_t>(f.kind));
    switch (f.kind) {
      case FrameKind::kStringDef: {
        auto defs = DecodeStringDefs(payload);  // a named StatusOr: range-for would dangle
        EXPECT_TRUE(defs.ok());
        if (defs.ok()) {
          for (auto& s : *defs) d.strings[s.id] = s.text;
        }
        break;
      }
      case FrameKind::kTrackDef: {
        auto defs = DecodeTrackDefs(payload);
        EXPECT_TRUE(defs.ok());
        if (defs.ok()) {
          for (auto& t : *defs) d.tracks[t.track] = t;
        }
        break;
      }
      case FrameKind::kEvents: {
        size_t before = d.events.size();
        EXPECT_TRUE(DecodeEvents(payload, &d.events).ok());
        for (size_t i = before; i < d.events.size(); ++i) {
          const Event& e = d.events[i];
          if (e.name != 0 && !d.strings.contains(e.name)) d.names_defined_before_use = false;
          if (!d.tracks.contains(e.track)) d.names_defined_before_use = false;
        }
        break;
      }
      case FrameKind::kSnapshot:
        d.snapshots.push_back(*DecodeSnapshot(payload));
        break;
      default:
        break;
    }
  }
  return d;
}

TEST(EventRingTest, KeepsFifoOrderAndDropsWhenFull) {
  EventRing ring(7, 6);  // rounded up to 8
  ring.track.store(42);
  EXPECT_EQ(ring.capacity(), 8u);
  for (uint64_t i = 0; i < 8; ++i) ASSERT_TRUE(ring.TryPush(Event{2, 0, 0, 1, 0, i, 0}));
  EXPECT_FALSE(ring.TryPush(Event{2, 0, 0, 1, 0, 99, 0}));
  EXPECT_EQ(ring.dropped(), 1u);
  Event out[8];
  ASSERT_EQ(ring.PopInto(out, 5), 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out[i].a, i);
    EXPECT_EQ(out[i].track, 42) << "track 0 means the owner's track";
  }
  ASSERT_TRUE(ring.TryPush(Event{2, 0, 9, 1, 0, 8, 0}));
  ASSERT_EQ(ring.PopInto(out, 8), 4u);
  EXPECT_EQ(out[3].a, 8u);
  EXPECT_EQ(out[3].track, 9) << "an explicit track is kept";
  EXPECT_EQ(ring.produced(), 9u);
  EXPECT_EQ(ring.occupancy(), 0u);
}

TEST(RecorderTest, EmitIsANoOpWithoutACollector) {
  ASSERT_FALSE(Enabled());
  EXPECT_FALSE(TryEmit(Event{2, 0, 0, 1, 0, 1, 0}));
}

TEST(RecorderTest, OnlyOneCollectorRunsAtATime) {
  Collector a(CollectorOptions{});
  Collector b(CollectorOptions{});
  ASSERT_TRUE(a.StartManual().ok());
  EXPECT_EQ(b.StartManual().code(), absl::StatusCode::kFailedPrecondition);
  a.Stop();
  EXPECT_TRUE(b.StartManual().ok());
  b.Stop();
}

TEST(RecorderTest, EveryEventKindRoundTripsThroughTheCollectorAndAFile) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "recorder_all_kinds.fmtrace").string();
  auto file = FileSink::Create(path);
  ASSERT_TRUE(file.ok());
  auto mem = std::make_shared<MemorySink>();
  Collector c(CollectorOptions{testing::SampleHello()});
  c.AddSink(*file);
  c.AddSink(mem);
  ASSERT_TRUE(c.StartManual().ok());
  Registry::Global().SetThreadName("test.main");
  const uint32_t zone = Intern("test.zone");
  const uint32_t counter = Intern("test_bytes");
  const uint32_t param = Intern("threshold");
  const uint32_t mark = Intern("a mark");
  const uint16_t stream = Registry::Global().DefineTrack(TrackType::kStream, "h2d");
  EmitZone(zone, 100, 50, 7);
  EmitCounter(counter, -12345);
  EmitStep(200, 9, 2, 3, stream);
  EmitRequest(5, RequestState::kFinished, 1);
  EmitSelect(5, 3, 384, 12);
  EmitCopyIssue(77, 784896, stream);
  EmitCopyDone(77, 300, 16000, stream);
  EmitPage(5, 4095, PageState::kHot, 12, 0x1FFFFF);
  EmitPublish(5, 400, 8, 1ull << 40);  // stall saturates at u32
  EmitParam(param, 0.375, 5);
  EmitMark(mark, 1, 2);
  c.Flush();
  c.Stop();
  ASSERT_TRUE((*file)->status().ok()) << (*file)->status();
  EXPECT_TRUE(mem->ended());

  Decoded d = DecodeFrames(mem->frames());
  EXPECT_TRUE(d.names_defined_before_use);
  ASSERT_EQ(d.events.size(), 11u);
  absl::flat_hash_set<uint8_t> kinds;
  for (const Event& e : d.events) kinds.insert(e.kind);
  EXPECT_EQ(kinds.size(), 11u);  // all but Dropped, which the collector writes
  const uint16_t me = d.events[0].track;
  EXPECT_EQ(d.strings[d.tracks[me].name], "test.main");
  EXPECT_EQ(d.events[0], (Event{1, 0, me, zone, 100, 50, 7}));
  EXPECT_EQ(d.strings[d.events[0].name], "test.zone");
  EXPECT_EQ(static_cast<int64_t>(d.events[1].a), -12345);
  EXPECT_EQ(d.events[2], (Event{3, kGpuTime, stream, 0, 200, 9, PackLoHi(2, 3)}));
  EXPECT_EQ(d.events[3].b, PackRequestB(RequestState::kFinished, 1));
  EXPECT_EQ(d.events[4].b, PackSelect(3, 384, 12));
  EXPECT_EQ(d.events[5], (Event{6, 0, stream, 0, d.events[5].t_ns, 77, 784896}));
  EXPECT_EQ(d.events[6], (Event{7, kGpuTime, stream, 0, 300, 77, 16000}));
  EXPECT_EQ(d.events[7].a, PackLoHi(5, 4095));
  EXPECT_EQ(d.events[7].b, PackPageB(PageState::kHot, 12, 0x1FFFFF));
  EXPECT_EQ(d.events[8].b, PackLoHi(8, 0xFFFFFFFFu));
  EXPECT_EQ(std::bit_cast<double>(d.events[9].a), 0.375);
  EXPECT_EQ(d.events[9].b, 5u);
  EXPECT_EQ(d.events[10].name, mark);

  // The file holds exactly the same frames, Hello first.
  std::vector<EncodedFrame> from_file;
  ASSERT_TRUE(ForEachFrame(path, [&](const FrameView& f) {
                if (f.kind != static_cast<uint16_t>(FrameKind::kIndex)) {
                  from_file.push_back(EncodeFrame(static_cast<FrameKind>(f.kind), f.payload));
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_FALSE(from_file.empty());
  EXPECT_EQ(from_file[0].kind, FrameKind::kHello);
  Decoded df = DecodeFrames(from_file);
  EXPECT_EQ(df.events, d.events);
}

TEST(RecorderTest, ZonesNestAndCarryTheirArgument) {
  auto mem = std::make_shared<MemorySink>();
  Collector c(CollectorOptions{});
  c.AddSink(mem);
  ASSERT_TRUE(c.StartManual().ok());
  {
    FM_ZONE("test.outer", 5);
    { FM_ZONE("test.inner"); }
  }
  c.Flush();
  c.Stop();
  Decoded d = DecodeFrames(mem->frames());
  ASSERT_EQ(d.events.size(), 2u);
  const Event& inner = d.events[0];
  const Event& outer = d.events[1];
  EXPECT_EQ(d.strings[inner.name], "test.inner");
  EXPECT_EQ(d.strings[outer.name], "test.outer");
  EXPECT_EQ(outer.b, 5u);
  EXPECT_LE(outer.t_ns, inner.t_ns);
  EXPECT_GE(outer.t_ns + static_cast<int64_t>(outer.a), inner.t_ns + static_cast<int64_t>(inner.a));
}

TEST(RecorderTest, ZoneOpenedWhileDisabledEmitsNothing) {
  auto mem = std::make_shared<MemorySink>();
  Collector c(CollectorOptions{});
  c.AddSink(mem);
  {
    FM_ZONE("test.before_start");
    ASSERT_TRUE(c.StartManual().ok());
  }
  c.Flush();
  c.Stop();
  EXPECT_TRUE(DecodeFrames(mem->frames()).events.empty());
}

TEST(RecorderTest, EventCategoriesDropTheKindsSwitchedOffUntilTheNextSession) {
  auto mem = std::make_shared<MemorySink>();
  Collector c(CollectorOptions{});
  c.AddSink(mem);
  ASSERT_TRUE(c.StartManual().ok());
  SetEventCategories(uint64_t{1} << static_cast<int>(EventKind::kStep));  // steps only
  EmitCounter(Intern("test.counter"), 7);
  EmitStep(NowNs(), 41, 1, 1, 0, 0);
  EmitMark(Intern("test.mark"), 1);
  c.Flush();
  c.Stop();
  Decoded d = DecodeFrames(mem->frames());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].kind, static_cast<uint8_t>(EventKind::kStep));
  EXPECT_EQ(d.events[0].a, 41u);

  // A new session starts with every kind on again.
  auto mem2 = std::make_shared<MemorySink>();
  Collector c2(CollectorOptions{});
  c2.AddSink(mem2);
  ASSERT_TRUE(c2.StartManual().ok());
  EmitCounter(Intern("test.counter"), 8);
  c2.Flush();
  c2.Stop();
  EXPECT_EQ(DecodeFrames(mem2->frames()).events.size(), 1u);
}

TEST(RecorderTest, EmittedEqualsRecordedPlusDroppedAcrossThreads) {
  Registry::Global().SetRingCapacity(1024);  // small rings for the new threads: drops must happen
  auto mem = std::make_shared<MemorySink>(/*keep_frames=*/true);
  Collector c(CollectorOptions{});
  c.AddSink(mem);
  ASSERT_TRUE(c.Start().ok());
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 100'000;
  const uint32_t name = Intern("stress_count");
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      uint64_t ok = 0;
      for (uint64_t i = 0; i < kPerThread; ++i) {
        ok += TryEmit(Event{2, 0, 0, name, static_cast<int64_t>(i), i, static_cast<uint64_t>(t)});
      }
      accepted += ok;
      refused += kPerThread - ok;
    });
  }
  for (auto& th : threads) th.join();
  c.Flush();
  c.Stop();
  Registry::Global().SetRingCapacity(Registry::kDefaultRingCapacity);

  Decoded d = DecodeFrames(mem->frames());
  uint64_t recorded = 0;
  uint64_t dropped = 0;
  absl::flat_hash_map<uint64_t, uint64_t> last_seen;  // producer thread -> last sequence number
  bool ordered = true;
  for (const Event& e : d.events) {
    if (e.kind == static_cast<uint8_t>(EventKind::kDropped)) {
      dropped += e.a;
    } else if (e.name == name) {
      ++recorded;
      auto it = last_seen.find(e.b);
      if (it != last_seen.end() && e.a <= it->second) ordered = false;
      last_seen[e.b] = e.a;
    }
  }
  EXPECT_EQ(recorded + dropped, kThreads * kPerThread);
  EXPECT_EQ(recorded, accepted.load());
  EXPECT_EQ(dropped, refused.load());
  EXPECT_EQ(c.records_delivered(), recorded);
  EXPECT_EQ(c.drops_reported(), dropped);
  EXPECT_TRUE(ordered) << "each producer's records arrive in the order emitted";
  EXPECT_TRUE(d.names_defined_before_use) << "every track and name is defined before use";
}

TEST(RecorderTest, ExitedThreadsHandTheirRingsToNewThreads) {
  Collector c(CollectorOptions{});
  ASSERT_TRUE(c.StartManual().ok());
  auto run = [] { std::thread([] { EmitMark(Intern("m")); }).join(); };
  run();
  c.Flush();  // the collector empties the exited thread's ring
  const size_t rings = Registry::Global().ring_count();
  for (int i = 0; i < 5; ++i) {
    run();
    c.Flush();
  }
  EXPECT_EQ(Registry::Global().ring_count(), rings);
  c.Stop();
}

TEST(RecorderTest, LateSinkGetsHelloDefinitionsAndTheLatestSnapshot) {
  Collector c(CollectorOptions{testing::SampleHello()});
  ASSERT_TRUE(c.StartManual().ok());
  const uint32_t id = Intern("late.name");
  EmitMark(id);
  c.PostSnapshot(testing::SampleSnapshot(16));
  Snapshot newer = testing::SampleSnapshot(16);
  newer.snapshot_id = 6;
  c.PostSnapshot(newer);
  c.Flush();
  auto mem = std::make_shared<MemorySink>();
  c.AddSink(mem);
  c.Flush();
  c.Stop();
  auto frames = mem->frames();
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames[0].kind, FrameKind::kHello);
  Decoded d = DecodeFrames(frames);
  EXPECT_EQ(d.strings[id], "late.name");
  ASSERT_EQ(d.snapshots.size(), 1u);
  EXPECT_EQ(d.snapshots[0].snapshot_id, 6u);
  auto hello = DecodeHello(std::span<const uint8_t>(frames[0].bytes).subspan(kFrameHeaderBytes));
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->epoch_monotonic_ns, Registry::Global().epoch_monotonic_ns());
  EXPECT_EQ(hello->program, "flashmem run");
}

TEST(RecorderTest, StatsReportRingsAndSinks) {
  auto mem = std::make_shared<MemorySink>();
  Collector c(CollectorOptions{});
  c.AddSink(mem);
  ASSERT_TRUE(c.StartManual().ok());
  EmitMark(Intern("x"));
  c.Flush();
  Stats s = c.stats();
  c.Stop();
  EXPECT_FALSE(s.rings.empty());
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].name, "memory");
  EXPECT_GT(s.sinks[0].frames_sent, 0u);
  bool saw_stats_frame = false;
  for (const auto& f : mem->frames()) saw_stats_frame |= f.kind == FrameKind::kStats;
  EXPECT_TRUE(saw_stats_frame);
}

}  // namespace
}  // namespace fm::traces
