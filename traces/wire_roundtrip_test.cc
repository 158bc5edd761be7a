// Every payload kind encodes and decodes to an equal value, and no prefix of a valid payload
// crashes or over-allocates a decoder.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "traces/control.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/test_frames.h"

namespace fm::traces {
namespace {

using ::testing::HasSubstr;
using testing::OneEventOfEveryKind;
using testing::SampleHello;
using testing::SampleSnapshot;

TEST(WireRoundTripTest, EveryEventKindSurvivesAnEventsPayload) {
  std::vector<Event> in = OneEventOfEveryKind();
  ASSERT_EQ(in.size(), kMaxEventKind);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(in[i].kind, i + 1);
  std::vector<Event> out;
  ASSERT_TRUE(DecodeEvents(EncodeEvents(in), &out).ok());
  EXPECT_EQ(out, in);
}

TEST(WireRoundTripTest, PackedEventFieldsUnpackToTheirInputs) {
  uint64_t b = PackPageB(PageState::kWritingBack, 0xABCDEF, 0x1FFFFF);
  EXPECT_EQ(PageStateOf(b), PageState::kWritingBack);
  EXPECT_EQ(PageSlotOf(b), 0xABCDEFu);
  EXPECT_EQ(Hi32(b), 0x1FFFFFu);
  uint64_t s = PackSelect(77, 384, 40);
  EXPECT_EQ(Lo32(s), 77u);
  EXPECT_EQ((s >> 32) & 0xFFFF, 384u);
  EXPECT_EQ(s >> 48, 40u);
}

TEST(WireRoundTripTest, EventsPayloadWithWrongCountIsDataLoss) {
  std::vector<uint8_t> p = EncodeEvents(OneEventOfEveryKind());
  p[0] = 13;  // claims one more event than present
  std::vector<Event> out;
  absl::Status st = DecodeEvents(p, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(st.message()), HasSubstr("count 13"));
  EXPECT_TRUE(out.empty());
}

TEST(WireRoundTripTest, HelloRoundTrips) {
  auto h = DecodeHello(EncodeHello(SampleHello()));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, SampleHello());
}

TEST(WireRoundTripTest, StringAndTrackDefsRoundTrip) {
  std::vector<StringDefEntry> s = {{1, "engine.step"}, {2, ""}, {3, "unicode: \xc3\xa9"}};
  auto ps = EncodeStringDefs(s);
  ASSERT_EQ(ps.size(), 1u);
  auto ds = DecodeStringDefs(ps[0]);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(*ds, s);
  std::vector<TrackDefEntry> t = {{1, TrackType::kThread, 1}, {2, TrackType::kStream, 3},
                                  {9, TrackType::kRequest, 2}};
  auto pt = EncodeTrackDefs(t);
  ASSERT_EQ(pt.size(), 1u);
  auto dt = DecodeTrackDefs(pt[0]);
  ASSERT_TRUE(dt.ok());
  EXPECT_EQ(*dt, t);
}

TEST(WireRoundTripTest, LongStringTablesSplitIntoPayloadsUnderTheBound) {
  std::vector<StringDefEntry> s;
  for (uint32_t i = 1; i <= 40; ++i) s.push_back({i, std::string(60000, static_cast<char>('a' + i % 26))});
  auto parts = EncodeStringDefs(s);
  EXPECT_GT(parts.size(), 1u);
  std::vector<StringDefEntry> back;
  for (const auto& p : parts) {
    EXPECT_LE(p.size(), kMaxPayloadBytes);
    auto d = DecodeStringDefs(p);
    ASSERT_TRUE(d.ok());
    back.insert(back.end(), d->begin(), d->end());
  }
  EXPECT_EQ(back, s);
}

TEST(WireRoundTripTest, StatsByeIndexScoresLabelsRoundTrip) {
  Stats st;
  st.rings = {{0, 100, 3, 50}, {1, 7, 0, 2}};
  st.sinks = {{"file:/tmp/x.fmtrace", 10, 0, 4096}, {"socket", 9, 1, 2048}};
  EXPECT_EQ(*DecodeStats(EncodeStats(st)), st);
  EXPECT_EQ(*DecodeBye(EncodeBye("runtime shutting down")), "runtime shutting down");
  std::vector<IndexEntry> idx = {{32, 0}, {9000, 2000000000}};
  EXPECT_EQ(*DecodeIndex(EncodeIndex(idx)), idx);
  Scores sc;
  sc.request_id = 3;
  sc.step = 640;
  sc.chunk_begin = 100;
  sc.chunk_count = 5;
  sc.layers = 3;
  sc.sigma_q = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 255};
  EXPECT_EQ(*DecodeScores(EncodeScores(sc)), sc);
  Labels lb;
  lb.request_id = 3;
  lb.step = 640;
  lb.row_begin = {0, 2, 3};
  lb.chunks = {5, 9, 11};
  lb.votes = {3, 1, 2};
  EXPECT_EQ(*DecodeLabels(EncodeLabels(lb)), lb);
}

TEST(WireRoundTripTest, LabelsWithBrokenCsrOffsetsAreDataLoss) {
  Labels lb;
  lb.row_begin = {0, 3, 2};
  lb.chunks = {1, 2};
  lb.votes = {1, 1};
  EXPECT_EQ(DecodeLabels(EncodeLabels(lb)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(WireRoundTripTest, SnapshotWithEverySectionRoundTrips) {
  Snapshot s = SampleSnapshot(4096);
  auto parts = EncodeSnapshot(s);
  ASSERT_EQ(parts.size(), 1u);
  auto d = DecodeSnapshot(parts[0]);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, s);
}

TEST(WireRoundTripTest, LargeResidencySplitsIntoPartsThatReassemble) {
  Snapshot s = SampleSnapshot(30000);  // request 1: 30000 * 22 bytes ~ 660 KB, request 2: 30 KB
  s.residency.push_back(s.residency[0]);
  s.residency.back().request_id = 3;
  auto parts = EncodeSnapshot(s);
  ASSERT_GE(parts.size(), 2u);
  Snapshot merged;
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_LE(parts[i].size(), kMaxPayloadBytes);
    auto d = DecodeSnapshot(parts[i]);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->part, i);
    EXPECT_EQ(d->parts, parts.size());
    EXPECT_EQ(d->snapshot_id, s.snapshot_id);
    if (i == 0) merged = *d;
    else merged.residency.insert(merged.residency.end(), d->residency.begin(), d->residency.end());
  }
  merged.part = s.part;
  merged.parts = s.parts;
  EXPECT_EQ(merged, s);
}

TEST(WireRoundTripTest, LatencyBucketsAreMonotonicWithBoundedWidth) {
  for (uint64_t v : {0ull, 7ull, 8ull, 9ull, 1000ull, 20000ull, 1ull << 40, ~0ull}) {
    int b = LatencyBucketOf(v);
    ASSERT_LT(b, kLatencyBuckets);
    EXPECT_LE(LatencyBucketLowerNs(b), v);
    if (b + 1 < kLatencyBuckets) {
      EXPECT_GT(LatencyBucketLowerNs(b + 1), v);
    }
  }
  for (int b = 1; b < kLatencyBuckets; ++b) {
    ASSERT_GT(LatencyBucketLowerNs(b), LatencyBucketLowerNs(b - 1));
    ASSERT_EQ(LatencyBucketOf(LatencyBucketLowerNs(b)), b);
  }
}

TEST(WireRoundTripTest, ControlAndReplyRoundTrip) {
  std::vector<ControlMessage> msgs(5);
  msgs[0].op = ControlOp::kSetParam;
  msgs[0].param = "threshold";
  msgs[0].value = 0.25;
  msgs[0].request_id = 4;
  msgs[1].op = ControlOp::kRequestSnapshot;
  msgs[2].op = ControlOp::kSetSnapshotPeriod;
  msgs[2].snapshot_period_ms = 250;
  msgs[3].op = ControlOp::kSetCategories;
  msgs[3].categories = 0xF0F0;
  msgs[4].op = ControlOp::kSetPaused;
  msgs[4].paused = true;
  for (const auto& m : msgs) {
    auto d = DecodeControl(EncodeControl(m));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, m);
  }
  ControlReply r{17, absl::StatusCode::kInvalidArgument, "tau: 300, expected [8, 256]"};
  EXPECT_EQ(*DecodeControlReply(EncodeControlReply(r)), r);
}

// Every strict prefix of every payload kind must decode to an error or a value, never crash;
// ByteReader's CanHold checks keep allocations within the payload size (ASan would catch more).
TEST(WireRoundTripTest, EveryPrefixOfEveryPayloadDecodesSafely) {
  std::vector<std::vector<uint8_t>> payloads = {
      EncodeHello(SampleHello()),
      EncodeStringDefs(std::vector<StringDefEntry>{{1, "abc"}, {2, "defgh"}})[0],
      EncodeTrackDefs(std::vector<TrackDefEntry>{{1, TrackType::kStream, 1}})[0],
      EncodeSnapshot(SampleSnapshot(50))[0],
      EncodeStats(Stats{{{0, 1, 2, 3}}, {{"s", 1, 2, 3}}}),
      EncodeIndex(std::vector<IndexEntry>{{1, 2}}),
      EncodeLabels(Labels{1, 2, {0, 1}, {5}, {1}}),
  };
  int errors = 0;
  for (const auto& p : payloads) {
    for (size_t n = 0; n < p.size(); ++n) {
      std::span<const uint8_t> prefix(p.data(), n);
      errors += !DecodeHello(prefix).ok();
      errors += !DecodeStringDefs(prefix).ok();
      errors += !DecodeTrackDefs(prefix).ok();
      errors += !DecodeSnapshot(prefix).ok();
      errors += !DecodeStats(prefix).ok();
      errors += !DecodeIndex(prefix).ok();
      errors += !DecodeLabels(prefix).ok();
      errors += !DecodeScores(prefix).ok();
      errors += !DecodeControl(prefix).ok();
    }
  }
  EXPECT_GT(errors, 0);
  // A huge claimed count in a tiny payload is refused before any allocation.
  std::vector<uint8_t> lie = {0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3};
  EXPECT_EQ(DecodeStringDefs(lie).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeTrackDefs(lie).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeIndex(lie).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeStats(lie).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fm::traces
