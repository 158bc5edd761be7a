#include "profiler-ui/store/residency_cursor.h"

#include <gtest/gtest.h>

#include "profiler-ui/model/heatmap_color.h"
#include "profiler-ui/tests/store_from_fixture.h"
#include "profiler-ui/tests/synth_fixture.h"

namespace fm::ui {
namespace {

using testing::Band;
using testing::FixtureConfig;

CellClass ExpectedClass(Band b) {
  switch (b) {
    case Band::kSelected: return CellClass::kSelected;
    case Band::kHot: return CellClass::kHot;
    case Band::kInFlight: return CellClass::kInFlight;
    case Band::kJustEvicted: return CellClass::kJustEvicted;
    case Band::kCold: return CellClass::kCold;
  }
  return CellClass::kCold;
}

TEST(ResidencyCursorTest, FinalResidencyShowsTheFixtureBands) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  ResidencyCursor cur;
  const int64_t end = testing::FixtureEndNs(cfg);
  const ResidencyGrid& g = cur.Seek(s, cfg.request_id, end);
  ASSERT_EQ(g.pages(), cfg.pages);
  ASSERT_EQ(g.layers, 21);
  for (uint32_t p = 0; p < cfg.pages; p += 7) {
    for (int l = 0; l < g.layers; l += 5) {
      ASSERT_EQ(ClassifyCell(g, p, l, end), ExpectedClass(testing::BandOfPage(cfg, p)))
          << "page " << p << " layer " << l;
    }
  }
}

TEST(ResidencyCursorTest, SteppingForwardMatchesASeekFromScratch) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  ResidencyCursor stepping;
  const int64_t end = testing::FixtureEndNs(cfg);
  uint64_t applied = 0;
  for (int64_t t = 0; t <= end; t += end / 37) {
    const ResidencyGrid& a = stepping.Seek(s, cfg.request_id, t);
    applied += stepping.last_applied();
    ResidencyCursor fresh;
    const ResidencyGrid& b = fresh.Seek(s, cfg.request_id, t);
    ASSERT_EQ(a.state, b.state) << t;
    ASSERT_EQ(a.fetch_latency_ns, b.fetch_latency_ns) << t;
  }
  EXPECT_GT(applied, 0u);
  // Going back in time rebuilds from the keyframe.
  ResidencyCursor back;
  back.Seek(s, cfg.request_id, end);
  const ResidencyGrid& start = back.Seek(s, cfg.request_id, 0);
  for (uint32_t p = 0; p < cfg.pages; ++p) {
    const Band band = testing::BandOfPage(cfg, p);
    const bool hot = band == Band::kSelected || band == Band::kHot || band == Band::kJustEvicted;
    ASSERT_EQ(start.state[p], hot ? kPageHot : kPageCold) << p;
  }
}

TEST(ResidencyCursorTest, ChurnedPagesRecordTheirFetchLatency) {
  FixtureConfig cfg;
  const Store s = testing::StoreFromFixture(cfg);
  ResidencyCursor cur;
  const ResidencyGrid& g = cur.Seek(s, cfg.request_id, testing::FixtureEndNs(cfg));
  int with_latency = 0;
  for (uint32_t p = cfg.pages * 3 / 4; p < cfg.pages; ++p) with_latency += g.fetch_latency_ns[p] > 0;
  EXPECT_GT(with_latency, 0);
}

TEST(ResidencyCursorTest, PicksMadeBeforeTheLatestKeyframeStillShowAsSelected) {
  Store s;
  auto snapshot = [&](uint32_t id, int64_t t, uint8_t state) {
    traces::Snapshot snap;
    snap.snapshot_id = id;
    snap.t_ns = t;
    traces::ResidencyEntry r;
    r.request_id = 5;
    r.page_states.assign(4, state);
    snap.residency = {r};
    s.IngestSnapshot(snap);
  };
  auto event = [&](traces::EventKind k, int64_t t, uint64_t a, uint64_t b) {
    traces::Event e{};
    e.kind = static_cast<uint8_t>(k);
    e.t_ns = t;
    e.a = a;
    e.b = b;
    s.IngestEvent(e);
  };
  snapshot(1, 0, kPageCold);
  event(traces::EventKind::kSelect, 1'000'000'000, 5, traces::PackSelect(1, 4, 4));
  for (uint32_t p = 0; p < 4; ++p) {
    event(traces::EventKind::kPage, 1'100'000'000, traces::PackLoHi(5, p), traces::PackPageB(traces::PageState::kHot, p, 0b10));
  }
  snapshot(2, 1'500'000'000, kPageHot);  // states only: the masks are not in it
  s.Commit();
  ResidencyCursor cur;
  const int64_t t = 1'600'000'000;
  const ResidencyGrid& g = cur.Seek(s, 5, t);
  EXPECT_EQ(ClassifyCell(g, 2, 1, t), CellClass::kSelected);
  EXPECT_EQ(ClassifyCell(g, 2, 0, t), CellClass::kHot);
}

TEST(ResidencyCursorTest, UnknownRequestIsEmpty) {
  const Store s = testing::StoreFromFixture(FixtureConfig{});
  ResidencyCursor cur;
  EXPECT_EQ(cur.Seek(s, 12345, 1'000'000'000).pages(), 0u);
}

}  // namespace
}  // namespace fm::ui
